#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session9/run5.sh ($BIN, $K, $M, $OUT set by gpu-check.sh)
# ninth session, call 5: 128-pixel segmap tiles (KESTREL_SEGMAP_TP=128) and the detector's one-copy results
# (KESTREL_DET_PACKED=0 for the old per-output copies): the segmap cases with both tile sizes (memcheck with 128),
# the GPU detection reference, then YOLOv5n FP16 b32 with the three segmap kernels, then the RFB-640 and YOLOv5n
# detectors end to end with and without the packed results (same binary)
L=$OUT/l; mkdir -p $L
for tp in 64 128; do
  KESTREL_SEGMAP_TP=$tp KS_TEST_SEGMAP_ONLY=1 timeout 120 $BIN/test_gpu_ops > $L/seg_$tp.log 2>&1; echo "segmap cases tp=$tp rc=$? $(tail -1 $L/seg_$tp.log)"
done
KESTREL_SEGMAP_TP=128 KS_TEST_SEGMAP_ONLY=1 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/test_gpu_ops > $L/seg_mc.log 2>&1; echo "  memcheck tp=128 rc=$? $(grep -h 'ERROR SUMMARY' $L/seg_mc.log | tail -1)"
for f in --gpu --gpu-fp16; do timeout 150 $BIN/test_detect_reference $f > $L/ref$f.log 2>&1; echo "test_detect_reference $f rc=$? $(tail -1 $L/ref$f.log)"; done
KESTREL_DET_PACKED=0 timeout 150 $BIN/test_detect_reference --gpu-fp16 > $L/ref_unpacked.log 2>&1; echo "test_detect_reference --gpu-fp16 KESTREL_DET_PACKED=0 rc=$? $(tail -1 $L/ref_unpacked.log)"
Y=$M/yolov5/yolov5n_fp16_dynamic.onnx
for v in "KESTREL_SEGMAP_TILED=0" "KESTREL_SEGMAP_TP=64" "KESTREL_SEGMAP_TP=128" "KESTREL_SEGMAP_TP=64"; do
  env $v timeout 150 $K bench --onnx $Y --fp16 --shapes images:32x3x640x640 --cuda-graph --no-transfers --iterations 300 --warmup 0.3 --dump-profile --timing-cache $L/tc_y.txt > $L/y.log 2>&1
  printf "  YOLOv5n b32 %-22s %s | %s | segmap 80x80 %s ms\n" $v "$(grep -h 'GPU compute' $L/y.log | awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' $L/y.log | awk '{print $5, "img/s"}')" "$(grep -h 'segmap' $L/y.log | grep 'Concat_1' | awk '{print $2}')"
done
rm -f $L/tc_*
for r in 1 2; do for v in 0 1; do
  KESTREL_DET_PACKED=$v timeout 200 $BIN/vision_bench --fp16 --no-jpeg --iters 100 --models $M --images $KESTREL_IMAGES ultraface-rfb640 > $L/e2e_$v.log 2>&1
  echo "  e2e RFB-640 FP16 KESTREL_DET_PACKED=$v (round $r): $(grep -v '^#' $L/e2e_$v.log | grep '640x480' | cut -c1-140)"
done; done
grep -h "stage split\|inside" $L/e2e_1.log | head -3
tar czf $OUT/logs.tar.gz -C $OUT l && rm -rf $L
