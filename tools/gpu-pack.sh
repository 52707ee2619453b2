#!/bin/bash
# Dev-machine half of the GPU check: builds kestrel for sm_90 (Release) and
# packs what one device call needs into .gpu-data/ (git-ignored, carried):
#   .gpu-data/bin.tar.xz   the CLI, every GPU test and the benchmark drivers
#   .gpu-data/models       the shared models the GPU tests and benchmarks use
#   .gpu-data/images       the test images
#   .gpu-data/lib          libjpeg/libpng (the GPU machine lacks them)
# Then, on the GPU machine (device tool, carry [.gpu-data]):  tools/gpu-check.sh [quick|b1|full]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${KESTREL_SHARED:-$ROOT/../shared}
B=${KS_GPU_BUILD:-$ROOT/build-gpu}
D=$ROOT/${KS_GPU_DATA:-.gpu-data}
# sm_90 machine code only (no PTX): the fatbin, the same in every binary, is most of the pack
cmake -S "$ROOT" -B "$B" -DKS_CUDA_ARCH=90-real -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j"$(nproc)"
mkdir -p "$D/lib" "$D/models" "$D/images"
BINS="kestrel"
# KS_PACK_TESTS="test_gpu_ops ...": only those tests (a smaller pack for a focused run)
for t in ${KS_PACK_TESTS:-test_engine_format test_engine_lowering test_gpu_ops test_gpu_models test_vision_cuda \
         test_mtcnn_cuda test_mtcnn_gpu test_nms_plugin test_plugin_engine test_detect_reference vision_bench mtcnn_bench \
         libks_test_plugin.so}; do
    [ -e "$B/tests/$t" ] && BINS="$BINS tests/$t"
done
# the vision benchmark links the shared library: built here, packed beside it (rpath $ORIGIN)
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/include" "$ROOT/bench/vision_bench.c" -o "$B/vision_bench" \
    -L"$B" -lkestrel -Wl,-rpath,'$ORIGIN' -lm
BINS="$BINS libkestrel.so vision_bench"
rm -f "$D/bin.tar.xz"
(cd "$B" && tar cf - $BINS | xz -T1 --lzma2=preset=3,dict=512MiB > "$D/bin.tar.xz")  # one stream, large window: the binaries share their CUDA fatbin
for l in libjpeg.so.62 libpng16.so.16 libprotobuf-c.so.1; do
    cp -L "/usr/lib/x86_64-linux-gnu/$l" "$D/lib/"
done
for m in ultraface yunet retinaface scrfd yolov5 mtcnn/caffe mtcnn/onnx_caffe mtcnn/onnx_ipazc; do
    mkdir -p "$D/models/$m"
    cp -r "$SHARED/models/$m/." "$D/models/$m/"
done
cp "$SHARED/models/reference_outputs_ort.json" "$D/models/"
# (every model of reference_outputs_ort.json stays: test_detect_reference --gpu walks them all)
rm -rf "$D/models/ultraface/caffe" "$D/models/mtcnn/caffe/det4."* "$D/models/mtcnn/onnx_caffe/"*BROKEN*
# the carry limit is 64 MiB with the working tree: say so when it is near
[ "$(du -sm "$D" | cut -f1)" -gt 58 ] && echo "WARNING: $D is over 58 MiB: trim it before carrying" >&2
for d in ultraface mtcnn coco_samples faces_misc libfacedetection retinaface; do
    mkdir -p "$D/images/$d" && cp -r "$SHARED/images/$d/." "$D/images/$d/"
done
rm -rf "$D/bin"
du -sh "$D" "$D"/*
