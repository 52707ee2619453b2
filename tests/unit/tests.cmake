# valgrind over the CPU path: import + run a real model through the CLI,
# failing on any memory error or leak. Skipped when valgrind is missing.
find_program(VALGRIND valgrind)
# models/ and images/ are filled by scripts/fetch-models.sh (make test does
# it); without them, use the shared folder beside the repository.
set(KS_VG_MODELS ${CMAKE_SOURCE_DIR}/models)
set(KS_VG_IMAGES ${CMAKE_SOURCE_DIR}/images)
if(NOT EXISTS ${KS_VG_MODELS}/ultraface/version-RFB-320.onnx)
  set(KS_VG_MODELS ${CMAKE_SOURCE_DIR}/../shared/models)
  set(KS_VG_IMAGES ${CMAKE_SOURCE_DIR}/../shared/images)
endif()
if(VALGRIND)
  add_test(NAME valgrind_cpu_run
           COMMAND ${VALGRIND} --error-exitcode=9 --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/unit/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite,indirect
                   $<TARGET_FILE:kestrel_cli> run --onnx ${KS_VG_MODELS}/ultraface/version-RFB-320.onnx)
  set_tests_properties(valgrind_cpu_run PROPERTIES TIMEOUT 900)
endif()
if(VALGRIND)
  # the vision CPU path: JPEG decode, preprocessing, network, decode, NMS, JSON
  add_test(NAME valgrind_cpu_detect
           COMMAND ${VALGRIND} --error-exitcode=9 --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/unit/valgrind.supp
                   --leak-check=full --errors-for-leak-kinds=definite,indirect
                   $<TARGET_FILE:kestrel_cli> detect --cpu -q
                   --model ${KS_VG_MODELS}/ultraface/version-RFB-320.onnx
                   --json ${CMAKE_BINARY_DIR}/valgrind_detect.json
                   ${KS_VG_IMAGES}/ultraface/1.jpg ${KS_VG_IMAGES}/mtcnn/pkuzhou_2.png)
  set_tests_properties(valgrind_cpu_detect PROPERTIES TIMEOUT 900)
endif()
# the CLI refuses inconsistent build options before loading anything (--io-fp16 without --fp16)
add_test(NAME cli_io_fp16_needs_fp16
         COMMAND $<TARGET_FILE:kestrel_cli> build --onnx ${KS_VG_MODELS}/ultraface/version-RFB-320.onnx
                 --save ${CMAKE_BINARY_DIR}/cli_io_fp16.engine --io-fp16)
set_tests_properties(cli_io_fp16_needs_fp16 PROPERTIES
                     PASS_REGULAR_EXPRESSION "io-fp16 binds float32 I/O as float16 and needs --fp16")
