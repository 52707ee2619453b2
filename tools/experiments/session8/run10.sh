#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session8/run10.sh ($BIN, $K, $M, $OUT set by gpu-check.sh)
# eighth session: per-kernel durations of the RFB-640 FP16 pipeline at batch 1 (ncu, base clocks), then every family end to end
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
cd $BIN && timeout 200 $NCU --kernel-name "regex:prep_kernel|decode_kernel|argmax_kernel|sort_kernel|mwe_kernel|sweep_kernel|pack_kernel" \
  --launch-skip 40 --launch-count 10 --section SpeedOfLight --section LaunchStats \
  ./vision_bench --fp16 --no-jpeg --iters 20 --batch 1 --models $M --images $KESTREL_IMAGES ultraface-rfb640 > $OUT/ncu_vision.log 2>&1
echo "ncu rc=$?"; grep -E "^\s+(void |[a-z_]+kernel|prep_)|Duration|Grid Size|Block Size" $OUT/ncu_vision.log | head -60
cd - >/dev/null
VISION_BENCH_PRECISIONS=fp16 timeout 330 bash tools/vision-bench.sh "$BIN" --iters 100 --no-jpeg > $OUT/vb_all.txt 2>&1; echo "vb rc=$?"
grep -v "^#" $OUT/vb_all.txt | grep "|" 
