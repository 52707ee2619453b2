#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session8/run11.sh ($BIN, $K, $M, $OUT set by gpu-check.sh)
for m in rank bitonic rank1; do
  KESTREL_NMS_SORT=$m KS_VISION_ONLY_NMS=1 timeout 120 $BIN/test_vision_cuda > $OUT/nms_$m.log 2>&1; echo "nms cases $m rc=$? $(tail -1 $OUT/nms_$m.log)"
done
for m in rank bitonic rank1 rank; do
  KESTREL_NMS_SORT=$m timeout 120 $BIN/vision_bench --fp16 --no-jpeg --iters 100 --models $M --images $KESTREL_IMAGES ultraface-rfb640 > $OUT/vb_$m.log 2>&1
  echo "vision_bench $m rc=$?"; grep -h "one CUDA graph\|inside the engine\|batch 32:" $OUT/vb_$m.log
done
timeout 200 $BIN/test_detect_reference --gpu-fp16 > $OUT/ref16.log 2>&1; echo "test_detect_reference --gpu-fp16 rc=$? $(tail -1 $OUT/ref16.log)"
timeout 150 $BIN/vision_bench --fp16 --no-jpeg --iters 100 --models $M --images $KESTREL_IMAGES scrfd-2.5g yolov5n > $OUT/vb_rest.log 2>&1; echo "rest rc=$?"; grep -v "^#" $OUT/vb_rest.log | grep "|\|inside"
