# Data-movement ops against onnxruntime on seeded random single-node models
# (tests/ops_move/gen_ort_fuzz.py), checked by test_models_ort (exact match).
find_program(KS_PYTHON3 NAMES python3 python)
if(KS_PYTHON3 AND TARGET test_models_ort)
  set(_ks_fz "${CMAKE_BINARY_DIR}/ort_fuzz_move")
  add_test(NAME ops_move_ort_fuzz
           COMMAND sh -c "rm -rf \"$2\" && \"$0\" \"$1\" --out \"$2\" && exec \"$3\" \"$2\"/*/manifest.json"
                   ${KS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/gen_ort_fuzz.py ${_ks_fz}
                   $<TARGET_FILE:test_models_ort>)
  set_tests_properties(ops_move_ort_fuzz PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
                       LABELS "ops;ort")
endif()
