#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session9/run4.sh ($BIN, $K, $M, $OUT set by gpu-check.sh)
# ninth session, call 4: the persistent double-buffered segmap and the fastdiv max pool: the op tests (segmap /
# pool / resize subset under memcheck too), the YOLOv5n model test and the GPU detection reference, then YOLOv5n
# FP16 b32 / b1 with KESTREL_SEGMAP_TILED=0 / default (profile at b32), RFB-640 FP16 b32 / b1, and the YOLOv5n /
# RFB-640 detectors end to end
L=$OUT/l; mkdir -p $L
KS_TEST_SEGMAP_ONLY=1 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/test_gpu_ops > $L/seg_mc.log 2>&1; echo "segmap/pool/resize cases memcheck rc=$? $(tail -1 $L/seg_mc.log) $(grep -h 'ERROR SUMMARY' $L/seg_mc.log | tail -1)"
timeout 240 $BIN/test_gpu_ops > $L/ops.log 2>&1; echo "test_gpu_ops rc=$? $(tail -1 $L/ops.log)"; grep -h FAIL $L/ops.log | head -5
timeout 200 $BIN/test_gpu_models yolov5 > $L/models.log 2>&1; echo "test_gpu_models yolov5 rc=$? $(tail -1 $L/models.log)"; grep -h FAIL $L/models.log | head -5
for f in --gpu --gpu-fp16; do timeout 150 $BIN/test_detect_reference $f > $L/ref$f.log 2>&1; echo "test_detect_reference $f rc=$? $(tail -1 $L/ref$f.log)"; done
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
grep -h "pool \|resize \|model.24/m.0\|segmap\|by kind\|by tactic" $L/y_b32_t1.log | cut -c1-200
rm -f $L/tc_*
timeout 200 $BIN/vision_bench --fp16 --no-jpeg --iters 100 --models $M --images $KESTREL_IMAGES ultraface-rfb640 yolov5n > $L/e2e.log 2>&1; echo "e2e rc=$?"; grep -v "^#" $L/e2e.log | grep "batch 32:\|640x\|inside" | head -12
tar czf $OUT/logs.tar.gz -C $OUT l && rm -rf $L
