# ONNX node conformance over Debian's libonnx-testdata: fails if any test of
# an op in required_ops.txt fails; exits 77 (skipped) without the test data.
set(KS_ONNX_NODE_TESTS /usr/share/libonnx-testdata/data/node CACHE PATH
    "ONNX node test directory for the conformance test")
add_test(NAME conformance
         COMMAND kestrel_cli conformance ${KS_ONNX_NODE_TESTS}
                 --require-file ${CMAKE_CURRENT_LIST_DIR}/required_ops.txt)
set_tests_properties(conformance PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1800)
