# libFuzzer target for the ONNX reader (-DKS_FUZZ=ON; see tests/fuzz/README.md).
# The library objects get coverage instrumentation (-fsanitize=fuzzer-no-link);
# KS_SANITIZE=ON supplies ASan/UBSan (and their runtime, which every other
# executable of the build then links). test_fuzz_replay is an ordinary test.
if(KS_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "KS_FUZZ=ON needs clang, e.g. -DCMAKE_C_COMPILER=clang-14 "
                        "-DCMAKE_CXX_COMPILER=clang++-14")
  endif()
  if(NOT KS_SANITIZE)
    message(FATAL_ERROR "KS_FUZZ=ON needs KS_SANITIZE=ON (ASan runtime)")
  endif()
  set(KS_FUZZ_FLAGS "" CACHE STRING
      "extra C flags for the fuzz build's library objects, e.g. -fno-sanitize=pointer-overflow")
  separate_arguments(ks_fuzz_flags_list UNIX_COMMAND "${KS_FUZZ_FLAGS}")
  target_compile_options(kestrel_obj PRIVATE $<$<COMPILE_LANGUAGE:C>:-fsanitize=fuzzer-no-link>
                         ${ks_fuzz_flags_list})
  add_executable(fuzz_onnx ${CMAKE_CURRENT_LIST_DIR}/fuzz_onnx.c)
  target_link_libraries(fuzz_onnx PRIVATE kestrel_internal)
  target_compile_options(fuzz_onnx PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_onnx PRIVATE -fsanitize=fuzzer)
endif()
