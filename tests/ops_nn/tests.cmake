# nn ops against onnxruntime: gen_cases.py writes single-node reference
# cases (inputs + ORT outputs as .npy, manifest.txt) into the build dir, then
# test_ops_nn checks shape inference and the CPU kernels on every case.
# Skipped (77) when python3, numpy, onnx or onnxruntime is missing.
find_program(KS_PYTHON3 NAMES python3 python)
if(KS_PYTHON3 AND TARGET test_ops_nn)
  set(_ks_nn_cases "${CMAKE_BINARY_DIR}/ops_nn_cases")
  add_test(NAME ops_nn_ort
           COMMAND sh -c "\"$0\" \"$1\" \"$2\" && exec \"$3\" \"$2\""
                   ${KS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/gen_cases.py ${_ks_nn_cases}
                   $<TARGET_FILE:test_ops_nn>)
  set_tests_properties(ops_nn_ort PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS "ops;ort")
endif()
