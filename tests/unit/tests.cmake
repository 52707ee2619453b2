# valgrind over the CPU path: import + run a real model through the CLI,
# failing on any memory error or leak. Skipped when valgrind is missing.
find_program(VALGRIND valgrind)
if(VALGRIND)
  add_test(NAME valgrind_cpu_run
           COMMAND ${VALGRIND} --error-exitcode=9 --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/unit/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite,indirect
                   $<TARGET_FILE:kestrel_cli> run --onnx ${CMAKE_SOURCE_DIR}/models/ultraface/version-RFB-320.onnx)
  set_tests_properties(valgrind_cpu_run PROPERTIES TIMEOUT 900)
endif()
if(VALGRIND)
  # the vision CPU path: JPEG decode, preprocessing, network, decode, NMS, JSON
  add_test(NAME valgrind_cpu_detect
           COMMAND ${VALGRIND} --error-exitcode=9 --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/unit/valgrind.supp
                   --leak-check=full --errors-for-leak-kinds=definite,indirect
                   $<TARGET_FILE:kestrel_cli> detect --cpu -q
                   --model ${CMAKE_SOURCE_DIR}/models/ultraface/version-RFB-320.onnx
                   --json ${CMAKE_BINARY_DIR}/valgrind_detect.json
                   ${CMAKE_SOURCE_DIR}/images/ultraface/1.jpg ${CMAKE_SOURCE_DIR}/images/mtcnn/pkuzhou_2.png)
  set_tests_properties(valgrind_cpu_detect PROPERTIES TIMEOUT 900)
endif()
