# valgrind over the CPU path: import + run a real model through the CLI,
# failing on any memory error or leak. Skipped when valgrind is missing.
find_program(VALGRIND valgrind)
if(VALGRIND)
  add_test(NAME valgrind_cpu_run
           COMMAND ${VALGRIND} --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect
                   $<TARGET_FILE:kestrel_cli> run --onnx ${CMAKE_SOURCE_DIR}/models/ultraface/version-RFB-320.onnx)
  set_tests_properties(valgrind_cpu_run PROPERTIES TIMEOUT 900)
endif()
