#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session9/run2.sh ($BIN, $K, $M, $OUT set by gpu-check.sh)
# ninth session, call 2: the segmap input tile through cp.async, the tiled max pool and the 8-wide resize: their op
# cases (plain, memcheck), the op and YOLOv5n model tests, then YOLOv5n FP16 b32 / b1 (segmap old / new kernel),
# RFB-640 FP16 b32 / b1 as a control
L=$OUT/l; mkdir -p $L
KS_TEST_SEGMAP_ONLY=1 timeout 120 $BIN/test_gpu_ops > $L/seg.log 2>&1; echo "segmap/pool/resize cases rc=$? $(tail -1 $L/seg.log)"; grep -h FAIL $L/seg.log | head -5
KS_TEST_SEGMAP_ONLY=1 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/test_gpu_ops > $L/seg_mc.log 2>&1; echo "  memcheck rc=$? $(grep -h 'ERROR SUMMARY' $L/seg_mc.log | tail -1)"
timeout 240 $BIN/test_gpu_ops > $L/ops.log 2>&1; echo "test_gpu_ops rc=$? $(tail -1 $L/ops.log)"; grep -h FAIL $L/ops.log | head -5
timeout 200 $BIN/test_gpu_models yolov5 > $L/models.log 2>&1; echo "test_gpu_models yolov5 rc=$? $(tail -1 $L/models.log)"; grep -h FAIL $L/models.log | head -5
Y=$M/yolov5/yolov5n_fp16_dynamic.onnx
for b in 32 1; do for tl in 0 1; do
  extra=""; [ $tl = 1 ] && [ $b = 32 ] && extra=--dump-profile
  KESTREL_SEGMAP_TILED=$tl timeout 150 $K bench --onnx $Y --fp16 --shapes images:${b}x3x640x640 --cuda-graph --no-transfers --iterations 300 --warmup 0.3 $extra --timing-cache $L/tc_y_$b.txt > $L/y_b${b}_t$tl.log 2>&1
  printf "  YOLOv5n b%-2s tiled=%s %s | %s | %s\n" $b $tl "$(grep -h 'GPU compute' $L/y_b${b}_t$tl.log | awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' $L/y_b${b}_t$tl.log | awk '{print $5, "img/s"}')" "$(grep -h 'build:' $L/y_b${b}_t$tl.log)"
done; done
for b in 32 1; do
  timeout 150 $K bench --onnx $M/ultraface/version-RFB-640.onnx --fp16 --shapes input:${b}x3x480x640 --cuda-graph --no-transfers --iterations 300 --warmup 0.3 --timing-cache $L/tc_r_$b.txt > $L/r_b$b.log 2>&1
  printf "  RFB-640 b%-2s %s | %s\n" $b "$(grep -h 'GPU compute' $L/r_b$b.log | awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' $L/r_b$b.log | awk '{print $5, "img/s"}')"
done
grep -h "segmap\|pool \|resize \|by kind\|by tactic" $L/y_b32_t1.log | cut -c1-220
rm -f $L/tc_*
tar czf $OUT/logs.tar.gz -C $OUT l && rm -rf $L
