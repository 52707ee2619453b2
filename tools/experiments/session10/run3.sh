#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session10/run3.sh ($BIN, $K, $M, $OUT set)
# tenth session, call 8: after the review refactors (planner sole_reader / push_pair / keep_input_live, copy_run,
# pw_fields): the batch-throughput conv cases (the dw+pw fusion's report needles), the segmap cases (the forced
# 1x1 + segmap fusion), the model tests, then YOLOv5n and RFB-640 FP16 b32 (no change expected)
L=$OUT/l; mkdir -p $L
KS_TEST_STREAM_ONLY=1 timeout 150 $BIN/test_gpu_ops > $L/stream.log 2>&1; echo "stream/dw+pw cases rc=$? $(tail -1 $L/stream.log)"
KS_TEST_SEGMAP_ONLY=1 timeout 120 $BIN/test_gpu_ops > $L/seg.log 2>&1; echo "segmap cases rc=$? $(tail -1 $L/seg.log)"
timeout 240 $BIN/test_gpu_models > $L/models.log 2>&1; echo "models rc=$? $(tail -1 $L/models.log)"
for row in "YOLOv5n|yolov5/yolov5n_fp16_dynamic.onnx|images|640x640" "RFB-640|ultraface/version-RFB-640.onnx|input|480x640"; do
  IFS='|' read -r name file in hw <<<"$row"
  timeout 150 $K bench --onnx $M/$file --fp16 --shapes $in:32x3x$hw --cuda-graph --no-transfers --iterations 200 --warmup 0.3 > $L/b_$name.log 2>&1
  printf "  %-8s fp16 b32 %s | %s\n" $name "$(grep -h 'GPU compute' $L/b_$name.log | awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' $L/b_$name.log | awk '{print $5, "img/s"}')"
done
tar czf $OUT/logs.tar.gz -C $OUT l && rm -rf $L
