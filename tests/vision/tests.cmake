# test_yolo_grid: YOLOv5 raw heads (yolo_grid decode, detector + appended post-processing)
# against the in-graph-decode export. make_yolov5_raw_heads.py makes the raw-head models
# by graph surgery from the shared yolov5n_fp16_dynamic.onnx into the build directory
# (a ctest fixture, run first); it exits 77 (skipped) without the onnx package or the
# model, and test_yolo_grid then skips too (77) as its models are absent.
find_program(KS_PYTHON3 NAMES python3 python)
if(KS_PYTHON3 AND TARGET test_yolo_grid)
  set(_ks_models_dir "$ENV{KESTREL_MODELS}")
  if(NOT _ks_models_dir)
    set(_ks_models_dir "${CMAKE_SOURCE_DIR}/../shared/models")
  endif()
  set(_ks_yolo_raw "${CMAKE_BINARY_DIR}/yolo_raw_heads")
  # the models folder is read at test time ($KESTREL_MODELS when set then)
  add_test(NAME yolo_raw_heads_model
           COMMAND sh -c "exec \"$0\" \"$1\" \"\${KESTREL_MODELS:-$2}/yolov5/yolov5n_fp16_dynamic.onnx\" \"$3\""
                   ${KS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/make_yolov5_raw_heads.py ${_ks_models_dir} ${_ks_yolo_raw})
  set_tests_properties(yolo_raw_heads_model PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                       FIXTURES_SETUP yolo_raw_heads)
  set_tests_properties(test_yolo_grid PROPERTIES FIXTURES_REQUIRED yolo_raw_heads
                       ENVIRONMENT "KS_YOLO_RAW_DIR=${_ks_yolo_raw}")
endif()
