#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session9/run3.sh ($BIN, $K, $M, $OUT set by gpu-check.sh)
# ninth session, call 3: the max pool with several planes per block and own:pointwise:1 beyond 128 channels: the op
# tests (the new cases among them; the segmap / pool / resize subset under memcheck), the YOLOv5n model test, then
# YOLOv5n FP16 b32 / b1 (profile at b32), then Nsight Compute on the batch-32 segmap and window-staged conv kernels
L=$OUT/l; mkdir -p $L
KS_TEST_SEGMAP_ONLY=1 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/test_gpu_ops > $L/seg_mc.log 2>&1; echo "segmap/pool/resize cases memcheck rc=$? $(tail -1 $L/seg_mc.log) $(grep -h 'ERROR SUMMARY' $L/seg_mc.log | tail -1)"
timeout 240 $BIN/test_gpu_ops > $L/ops.log 2>&1; echo "test_gpu_ops rc=$? $(tail -1 $L/ops.log)"; grep -h FAIL $L/ops.log | head -5
grep -h "pointwise:1.*255\|pointwise:1.*256\|pointwise:1.*200" $L/ops.log | head -6
timeout 200 $BIN/test_gpu_models yolov5 > $L/models.log 2>&1; echo "test_gpu_models yolov5 rc=$? $(tail -1 $L/models.log)"; grep -h FAIL $L/models.log | head -5
Y=$M/yolov5/yolov5n_fp16_dynamic.onnx
for b in 32 1; do
  extra=""; [ $b = 32 ] && extra=--dump-profile
  timeout 150 $K bench --onnx $Y --fp16 --shapes images:${b}x3x640x640 --cuda-graph --no-transfers --iterations 300 --warmup 0.3 $extra --timing-cache $L/tc_y_$b.txt > $L/y_b$b.log 2>&1
  printf "  YOLOv5n b%-2s %s | %s | %s\n" $b "$(grep -h 'GPU compute' $L/y_b$b.log | awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' $L/y_b$b.log | awk '{print $5, "img/s"}')" "$(grep -h 'build:' $L/y_b$b.log)"
done
grep -h "pool \|model.24/m.0\|segmap\|by kind\|by tactic" $L/y_b32.log | cut -c1-200
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
A="--onnx $Y --fp16 --shapes images:32x3x640x640 --no-transfers --timing-cache $L/tc_y_32.txt"
for kn in segmap_tp_k conv_win_k; do
  timeout 200 $NCU --kernel-name "regex:$kn" --launch-skip 0 --launch-count 1 --section SpeedOfLight --section WarpStateStats \
    --section MemoryWorkloadAnalysis --section Occupancy $K bench $A --iterations 1 --warmup 0 > $L/ncu_$kn.log 2>&1
  echo "== ncu $kn rc=$?"; grep -v "^==PROF==\|^ *$\|^  *-\+\|OPT \|WRN \|INF " $L/ncu_$kn.log | grep -i "duration\|throughput\|stall\|occupancy\|registers\|Issued\|Eligible\|Busy\|Bandwidth\|Hit Rate\|Shared" | head -40
done
rm -f $L/tc_*
tar czf $OUT/logs.tar.gz -C $OUT l && rm -rf $L
