#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session8/run8.sh ($BIN, $K, $M, $OUT set by gpu-check.sh)
# eighth session: tests + benches after each epilogue change (run9.sh runs this again for the second round)
for t in test_gpu_ops test_gpu_models; do
  timeout 240 $BIN/$t > $OUT/$t.log 2>&1; echo "$t rc=$? $(tail -1 $OUT/$t.log)"; grep -h FAIL $OUT/$t.log | head -5
done
for row in "RFB-640|ultraface/version-RFB-640.onnx|input|480x640" "YOLOv5n|yolov5/yolov5n_fp16_dynamic.onnx|images|640x640"; do
  IFS='|' read -r name file in hw <<<"$row"
  for b in 32 1; do
    extra=""; [ $b = 32 ] && extra=--dump-profile
    timeout 150 $K bench --onnx $M/$file --fp16 --shapes $in:${b}x3x$hw --cuda-graph --no-transfers --iterations 300 --warmup 0.3 $extra --timing-cache $OUT/tc_${name}_$b.txt > $OUT/b_${name}_$b.log 2>&1
    printf "  %-8s b%-2s %s | %s\n" $name $b "$(grep -h 'GPU compute' $OUT/b_${name}_$b.log | awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' $OUT/b_${name}_$b.log | awk '{print $5, "img/s"}')"
    [ $b = 1 ] && { timeout 60 $K bench --onnx $M/$file --fp16 --shapes $in:${b}x3x$hw --cuda-graph --no-transfers --iterations 300 --warmup 0.3 --timing-cache $OUT/tc_${name}_$b.txt > $OUT/b_${name}_${b}_2.log 2>&1; printf "  %-8s b%-2s again %s\n" $name $b "$(grep -h 'GPU compute' $OUT/b_${name}_${b}_2.log | awk '{print "median", $8, "min", $4, "p99", $14}')"; }
  done
done
grep -h "by tactic" $OUT/b_*_32.log
rm -f $OUT/tc_*  # the timing caches stay on the GPU machine
timeout 150 $BIN/vision_bench --fp16 --no-jpeg --iters 100 --models $M --images $KESTREL_IMAGES ultraface-rfb640 > $OUT/e2e.log 2>&1; echo "e2e rc=$?"; grep -v "^#" $OUT/e2e.log | grep "batch 32:\|640x480\|inside"
