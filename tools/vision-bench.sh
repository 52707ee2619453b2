#!/bin/bash
# Vision end-to-end GPU benchmark (bench/vision_bench.c): device-resident 1920x1080 BGR frame ->
# detections, batch 1 latency and batch 32 throughput per detector family, FP32 and FP16,
# then JPEG -> device frame cost (CPU libjpeg-turbo + upload vs nvJPEG) measured separately.
#   tools/vision-bench.sh [BUILD_DIR] [extra vision_bench args...]
# BUILD_DIR holds libkestrel.so (a CUDA build, sm_90); default: build-gpu, else .gpu-data/bin.
# vision_bench is compiled here against it unless BUILD_DIR/vision_bench exists.
# Output: a table on stdout; $OUT/vision_bench_{fp32,fp16}.txt when OUT is set.
# VISION_BENCH_PRECISIONS (default "fp32 fp16") picks and orders the runs.
# Called by tools/gpu-check.sh; exits 77 without a GPU.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-}
[ -z "$B" ] && for c in "$HERE/build-gpu" "$HERE/.gpu-data/bin"; do [ -e "$c/libkestrel.so" ] && B=$c && break; done
[ $# -gt 0 ] && shift
if [ -z "$B" ] || [ ! -e "$B/libkestrel.so" ]; then
    echo "vision-bench: no libkestrel.so (give the CUDA build dir)"; exit 1
fi
B=$(cd "$B" && pwd)
CUDNN_DIR=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib
[ -d "$CUDNN_DIR" ] && export LD_LIBRARY_PATH=$CUDNN_DIR:${LD_LIBRARY_PATH:-}
[ -d "$HERE/.gpu-data/lib" ] && export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}:$HERE/.gpu-data/lib
[ -d "$B/lib" ] && export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}:$B/lib
export KESTREL_MODELS=${KESTREL_MODELS:-$HERE/../shared/models}
export KESTREL_IMAGES=${KESTREL_IMAGES:-$HERE/../shared/images}
[ -d "$KESTREL_MODELS" ] || { [ -d "$HERE/.gpu-data/models" ] && export KESTREL_MODELS=$HERE/.gpu-data/models; }
[ -d "$KESTREL_IMAGES" ] || { [ -d "$HERE/.gpu-data/images" ] && export KESTREL_IMAGES=$HERE/.gpu-data/images; }
VB=$B/vision_bench
if [ ! -x "$VB" ]; then
    VB=${TMPDIR:-/tmp}/vision_bench.$$
    cc -O2 -std=c11 -D_GNU_SOURCE -I"$HERE/include" "$HERE/bench/vision_bench.c" -o "$VB" \
        -L"$B" -lkestrel -Wl,-rpath,"$B" -lm || { echo "vision-bench: compile failed"; exit 1; }
fi
rc=0
for prec in ${VISION_BENCH_PRECISIONS:-fp32 fp16}; do
    flag=""; [ $prec = fp16 ] && flag=--fp16
    if [ -n "${OUT:-}" ]; then
        "$VB" $flag "$@" | tee "$OUT/vision_bench_$prec.txt"; r=${PIPESTATUS[0]}
    else
        "$VB" $flag "$@"; r=$?
    fi
    [ $r -eq 77 ] && exit 77
    [ $r -ne 0 ] && rc=$r
    echo
done
exit $rc
