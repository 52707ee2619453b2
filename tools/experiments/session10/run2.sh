#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session10/run2.sh ($BIN, $K, $M, $OUT set)
# tenth session, call 5: the segmap program with the operand array chosen once per instruction (segmap.cuh
# seg_eval). The segmap cases (plain, memcheck), then YOLOv5n FP16 at batch 32 and 1: per-layer profile (segmap
# layer times; call 4 had 0.1527 / 0.0504 / 0.0170 ms at batch 32) and the fused 1x1 conv + segmap timing, forced
# and timed, two rounds.
L=$OUT/l; mkdir -p $L
KS_TEST_SEGMAP_ONLY=1 timeout 120 $BIN/test_gpu_ops > $L/seg.log 2>&1; echo "segmap cases rc=$? $(tail -1 $L/seg.log)"
KS_TEST_SEGMAP_ONLY=1 timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/test_gpu_ops > $L/seg_mc.log 2>&1
echo "segmap cases memcheck rc=$? $(grep -h 'ERROR SUMMARY' $L/seg_mc.log | tail -1)"
timeout 200 $BIN/test_gpu_models yolov5 > $L/y.log 2>&1; echo "yolov5 model (timed) rc=$? $(tail -1 $L/y.log)"
for r in 1 2; do
  for b in 32 1; do
    for v in "" force; do
      tag=${v:-timed}
      KESTREL_PW_SEG=$v timeout 150 $K build --onnx $M/yolov5/yolov5n_fp16_dynamic.onnx --fp16 --shapes images:${b}x3x640x640 --timing-cache $L/tc_${b}.txt --save $L/y.engine --verbose > $L/build_${tag}_${b}_$r.log 2>&1
      timeout 150 $K bench --engine $L/y.engine --cuda-graph --no-transfers --iterations 200 --warmup 0.3 --dump-profile > $L/p_${tag}_${b}_$r.log 2>&1
      printf "  round %s b%-2s %-5s %s | %s\n" $r $b $tag "$(grep -h 'GPU compute' $L/p_${tag}_${b}_$r.log | awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'segmap fusion' $L/build_${tag}_${b}_$r.log)"
      grep -h " segmap " $L/p_${tag}_${b}_$r.log | awk '{print "     ", $2, $5, substr($0, index($0, "fp16")+6, 40)}'
    done
    rm -f $L/tc_${b}.txt
  done
done
grep -h "1x1 conv + segmap '" $L/build_*.log | sed 's/ -> .*: pair/: pair/' | sort | uniq | head
rm -f $L/y.engine
tar czf $OUT/logs.tar.gz -C $OUT l && rm -rf $L
