# Elementwise / activation / softmax / logic / reduction / TopK ops against
# onnxruntime: tests/ops_elem/gen_ort_cases.py writes single-node cases in
# the ONNX node-test layout, `kestrel conformance --strict` checks them.
# Skipped (77) without python3 + onnx + onnxruntime.
find_program(KS_PYTHON3 NAMES python3 python)
if(KS_PYTHON3 AND TARGET kestrel_cli)
  set(_ks_oe "${CMAKE_BINARY_DIR}/ort_cases_elem")
  add_test(NAME ops_elem_ort
           COMMAND sh -c "rm -rf \"$2\" && \"$0\" \"$1\" --out \"$2\" && exec \"$3\" conformance \"$2\" --strict"
                   ${KS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/gen_ort_cases.py ${_ks_oe}
                   $<TARGET_FILE:kestrel_cli>)
  set_tests_properties(ops_elem_ort PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
                       LABELS "ops;ort")
endif()
