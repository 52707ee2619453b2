# Real-model checks against onnxruntime: one ctest per shared ONNX model.
# Each test runs tests/models/gen_ort_refs.py for that model (inputs + ORT
# outputs as .npy + manifest, into ${CMAKE_BINARY_DIR}/ort_refs/<id>/), then
# test_models_ort on the manifest. Both exit 77 (skipped) when onnxruntime is
# not importable or the model file is absent. The models folder is read at
# test time: $KESTREL_MODELS, else <repo>/../shared/models.
find_program(KS_PYTHON3 NAMES python3 python)
set(KS_ORT_MODELS
  mtcnn/onnx_caffe/det1.onnx
  mtcnn/onnx_caffe/optimaizer_pnet.onnx
  mtcnn/onnx_caffe/det2_BROKEN_prelu_fc.onnx
  mtcnn/onnx_caffe/det3_BROKEN_prelu_fc.onnx
  mtcnn/onnx_ipazc/pnet.onnx
  mtcnn/onnx_ipazc/rnet.onnx
  mtcnn/onnx_ipazc/onet.onnx
  retinaface/retinaface_mnet025_640_opset14.onnx
  retinaface/retinaface_mnet025_640_opset17.onnx
  scrfd/scrfd_500m_bnkps_640.onnx
  scrfd/scrfd_500m_bnkps_dynamic.onnx
  scrfd/scrfd_2.5g_bnkps_dynamic.onnx
  super_resolution/sub_pixel_cnn_x3_224_opset10_dynbatch.onnx
  super_resolution/sub_pixel_cnn_x3_224_opset9_BROKEN_pixelshuffle.onnx
  ultraface/version-RFB-320.onnx
  ultraface/version-RFB-320_simplified.onnx
  ultraface/version-RFB-320_without_postprocessing.onnx
  ultraface/version-RFB-640.onnx
  ultraface/version-slim-320.onnx
  ultraface/version-slim-320_simplified.onnx
  ultraface/version-slim-320_without_postprocessing.onnx
  yolov5/yolov5n_fp16_dynamic.onnx
  yunet/face_detection_yunet_2026may.onnx
  yunet/yunet_n_320_320.onnx
  yunet/yunet_n_640_640.onnx
  yunet/yunet_n_dynamic.onnx
  yunet/yunet_s_320_320.onnx
  yunet/yunet_s_640_640.onnx
  yunet/yunet_s_dynamic.onnx)
# plus any other *.onnx found now in the default models folder
set(_ks_models_dir "$ENV{KESTREL_MODELS}")
if(NOT _ks_models_dir)
  set(_ks_models_dir "${CMAKE_SOURCE_DIR}/../shared/models")
endif()
if(IS_DIRECTORY "${_ks_models_dir}")
  file(GLOB_RECURSE _ks_found RELATIVE "${_ks_models_dir}" "${_ks_models_dir}/*.onnx")
  list(APPEND KS_ORT_MODELS ${_ks_found})
  list(REMOVE_DUPLICATES KS_ORT_MODELS)
endif()

if(KS_PYTHON3 AND TARGET test_models_ort)
  set(_ks_refs "${CMAKE_BINARY_DIR}/ort_refs")
  foreach(rel ${KS_ORT_MODELS})
    # same id as gen_ort_refs.py model_id(): strip .onnx, '/' -> '__', '.' -> '_'
    string(REGEX REPLACE "\\.onnx$" "" id "${rel}")
    string(REPLACE "/" "__" id "${id}")
    string(REPLACE "." "_" id "${id}")
    add_test(NAME model_ort_${id}
             COMMAND sh -c "\"$0\" \"$1\" --model \"$2\" --out \"$3\" && exec \"$4\" \"$3/$5/manifest.json\""
                     ${KS_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/gen_ort_refs.py ${rel} ${_ks_refs}
                     $<TARGET_FILE:test_models_ort> ${id})
    set_tests_properties(model_ort_${id} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1800
                         LABELS "models;ort")
  endforeach()
endif()
