#!/bin/bash
# GPU machine: KS_GPU_DATA=.gpu-data tools/gpu-check.sh exec bash tools/experiments/scrfd_fp16_tie.sh
# (JSON results under $OUT/scrfd; compare with tools/experiments/scrfd_tie.py)
# SCRFD-500m FP16: which layers move the ultraface/17.jpg box [437.8 609.3 479.9 660.7]
set -u
mkdir -p $OUT/scrfd
F=$M/scrfd/scrfd_500m_bnkps_640.onnx
heads="Conv_151 Conv_152 Conv_153 Conv_176 Conv_177 Conv_178 Conv_201 Conv_202 Conv_203"
lp() { for n in "$@"; do printf -- "--layer-precision %s:fp32 " $n; done; }
run() { # name, build args...
    local name=$1; shift
    timeout 120 $K build --onnx $F --postprocess scrfd --save /tmp/$name.engine "$@" > $OUT/scrfd/$name.build.log 2>&1 || { echo "$name build failed"; tail -3 $OUT/scrfd/$name.build.log; return; }
    timeout 60 $K detect --model /tmp/$name.engine --family scrfd $KESTREL_IMAGES/ultraface/17.jpg --json $OUT/scrfd/$name.json -q > $OUT/scrfd/$name.det.log 2>&1 || { echo "$name detect failed"; tail -3 $OUT/scrfd/$name.det.log; }
    echo "$name done"
}
run fp32
run fp16 --fp16
run fp16_heads --fp16 $(lp $heads)
run fp16_notactics --fp16 --no-tactics
run fp16_noscore32 --fp16 --no-score-fp32
