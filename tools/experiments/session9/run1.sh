#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session9/run1.sh ($BIN, $K, $M, $OUT set by gpu-check.sh)
# ninth session, call 1: the transposed segmap kernel and the strided segmap rows (concat elimination at batch > 1):
# their op cases (plain, memcheck), the NMS cases under memcheck, the op and model tests, then YOLOv5n FP16 b32 / b1
# with KESTREL_SEGMAP_TILED=0 (the one-thread-per-element kernel) and the default
ms() { "$@" > /dev/null 2>&1; }
KS_TEST_SEGMAP_ONLY=1 timeout 120 $BIN/test_gpu_ops > $OUT/seg.log 2>&1; echo "segmap cases rc=$? $(tail -1 $OUT/seg.log)"; grep -h FAIL $OUT/seg.log | head -5
KS_TEST_SEGMAP_ONLY=1 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/test_gpu_ops > $OUT/seg_mc.log 2>&1; echo "segmap cases memcheck rc=$? $(grep -h 'ERROR SUMMARY' $OUT/seg_mc.log | tail -1)"
KS_VISION_ONLY_NMS=1 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/test_vision_cuda > $OUT/nms_mc.log 2>&1; echo "NMS cases memcheck rc=$? $(grep -h 'ERROR SUMMARY' $OUT/nms_mc.log | tail -1)"
for t in test_engine_format test_engine_lowering test_gpu_ops test_gpu_models; do
  timeout 240 $BIN/$t > $OUT/$t.log 2>&1; echo "$t rc=$? $(tail -1 $OUT/$t.log)"; grep -h FAIL $OUT/$t.log | head -5
done
Y=$M/yolov5/yolov5n_fp16_dynamic.onnx
for b in 32 1; do for tl in 0 1; do
  extra=""; [ $tl = 1 ] && extra=--dump-profile
  KESTREL_SEGMAP_TILED=$tl timeout 150 $K bench --onnx $Y --fp16 --shapes images:${b}x3x640x640 --cuda-graph --no-transfers --iterations 300 --warmup 0.3 $extra --timing-cache $OUT/tc_y_$b.txt > $OUT/y_b${b}_t$tl.log 2>&1
  printf "  YOLOv5n b%-2s tiled=%s %s | %s | %s\n" $b $tl "$(grep -h 'GPU compute' $OUT/y_b${b}_t$tl.log | awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' $OUT/y_b${b}_t$tl.log | awk '{print $5, "img/s"}')" "$(grep -h 'build:' $OUT/y_b${b}_t$tl.log)"
done; done
grep -h "segmap\|concat\|by kind\|by tactic\|layers)" $OUT/y_b32_t1.log | cut -c1-200
rm -f $OUT/tc_*
