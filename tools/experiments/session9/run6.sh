#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session9/run6.sh ($BIN, $K, $M, $OUT set by gpu-check.sh)
# ninth session, call 8: the tiled max pool only for overlapping windows (YuNet-n's 2x2 stride-2 pools back on the
# plain kernel): the pool / segmap / resize cases, then YuNet-n, YOLOv5n, RFB-640 FP16 at batch 32 and 1 and PNet
# at batch 32 (the rows of `tools/gpu-check.sh bench` that call 7 re-measures or did not reach), then the engine-file
# timings of the bench mode (cold build, cached rebuild, deserialize)
L=$OUT/l; mkdir -p $L
KS_TEST_SEGMAP_ONLY=1 timeout 120 $BIN/test_gpu_ops > $L/seg.log 2>&1; echo "segmap/pool/resize cases rc=$? $(tail -1 $L/seg.log)"
for row in "YuNet-n|yunet/yunet_n_640_640.onnx|input|640x640" "YOLOv5n|yolov5/yolov5n_fp16_dynamic.onnx|images|640x640" "RFB-640|ultraface/version-RFB-640.onnx|input|480x640"; do
  IFS='|' read -r name file in hw <<<"$row"
  for b in 32 1; do
    timeout 150 $K bench --onnx $M/$file --fp16 --shapes $in:${b}x3x$hw --cuda-graph --no-transfers --iterations 200 --warmup 0.3 --timing-cache $L/tc_${name}_$b.txt > $L/b_${name}_$b.log 2>&1
    printf "  %-8s fp16 b%-2s %s | %s\n" $name $b "$(grep -h 'GPU compute' $L/b_${name}_$b.log | awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' $L/b_${name}_$b.log | awk '{print $5, "img/s"}')"
  done
done
timeout 150 $K bench --onnx $M/mtcnn/onnx_caffe/optimaizer_pnet.onnx --fp16 --shapes input:32x3x648x1152 --cuda-graph --no-transfers --iterations 200 --warmup 0.3 > $L/b_pnet_32.log 2>&1
printf "  PNet-1080p fp16 b32 %s | %s\n" "$(grep -h 'GPU compute' $L/b_pnet_32.log | awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' $L/b_pnet_32.log | awk '{print $5, "img/s"}')"
rm -f $L/tc_*
{ /usr/bin/time -f "cold build wall %e s" $K build --onnx $M/ultraface/version-RFB-640.onnx --fp16 --save $L/rfb640.engine --timing-cache $L/tc_rfb640.txt
  /usr/bin/time -f "cached rebuild wall %e s" $K build --onnx $M/ultraface/version-RFB-640.onnx --fp16 --save $L/rfb640.engine --timing-cache $L/tc_rfb640.txt
  $K bench --engine $L/rfb640.engine --cuda-graph --no-transfers --iterations 200
} > $L/engine_file.log 2>&1
grep -h "built\|wall\|deserialize\|GPU compute" $L/engine_file.log
rm -f $L/*.engine $L/tc_*
tar czf $OUT/logs.tar.gz -C $OUT l && rm -rf $L
