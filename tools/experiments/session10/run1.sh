#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session10/run1.sh ($BIN, $K, $M, $OUT set)
# tenth session, call 4: the 1x1 conv + segmap fusion (own:pointwise:1+segmap). The segmap / pool / resize op cases
# (with the new fused head cases, forced), the same under compute-sanitizer memcheck, the YOLOv5n model test with
# the fusion forced (plain and memcheck) and timed; then YOLOv5n FP16 at batch 32 and 1 with KESTREL_PW_SEG=off / on
# (same binary, two rounds), and a per-layer profile of the fused build at batch 32.
L=$OUT/l; mkdir -p $L
KS_TEST_SEGMAP_ONLY=1 timeout 120 $BIN/test_gpu_ops > $L/seg.log 2>&1; echo "segmap cases rc=$? $(tail -1 $L/seg.log)"
KS_TEST_SEGMAP_ONLY=1 timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/test_gpu_ops > $L/seg_mc.log 2>&1
echo "segmap cases memcheck rc=$? $(grep -h 'ERROR SUMMARY' $L/seg_mc.log | tail -1)"
KESTREL_PW_SEG=force KS_TEST_NO_TACTICS=1 timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/test_gpu_models yolov5 > $L/y_mc.log 2>&1
echo "yolov5 model forced memcheck rc=$? $(tail -1 $L/y_mc.log) $(grep -h 'ERROR SUMMARY' $L/y_mc.log | tail -1)"
timeout 200 $BIN/test_gpu_models yolov5 > $L/y.log 2>&1; echo "yolov5 model (timed) rc=$? $(tail -1 $L/y.log)"
for r in 1 2; do
  for v in off on; do
    for b in 32 1; do
      env KESTREL_PW_SEG=$([ $v = off ] && echo off || echo "") timeout 150 $K bench --onnx $M/yolov5/yolov5n_fp16_dynamic.onnx --fp16 --shapes images:${b}x3x640x640 --cuda-graph --no-transfers --iterations 200 --warmup 0.3 --timing-cache $L/tc_${v}_$b.txt > $L/b_${v}_${b}_$r.log 2>&1
      printf "  round %s pwseg %-3s b%-2s %s | %s | %s\n" $r $v $b "$(grep -h 'GPU compute' $L/b_${v}_${b}_$r.log | awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' $L/b_${v}_${b}_$r.log | awk '{print $5, "img/s"}')" "$(grep -h 'segmap fusion' $L/b_${v}_${b}_$r.log | head -1)"
    done
  done
done
timeout 150 $K build --onnx $M/yolov5/yolov5n_fp16_dynamic.onnx --fp16 --shapes images:32x3x640x640 --timing-cache $L/tc_on_32.txt --save $L/y32.engine --verbose > $L/build_on_32.log 2>&1
grep -h "segmap\|layers\|Final" $L/build_on_32.log | head -20
timeout 150 $K bench --engine $L/y32.engine --cuda-graph --no-transfers --iterations 100 --dump-profile > $L/prof_on_32.log 2>&1
grep -h "segmap\|GPU compute" $L/prof_on_32.log | head -20; rm -f $L/y32.engine
rm -f $L/tc_*
tar czf $OUT/logs.tar.gz -C $OUT l && rm -rf $L
