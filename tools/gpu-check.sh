#!/bin/bash
# kestrel GPU check: one script for the GPU machine (H100/H200).
#   tools/gpu-pack.sh                  (dev machine: build for sm_90, pack .gpu-data)
#   tools/gpu-check.sh [quick|b1]      (GPU machine, device tool with carry [.gpu-data])
# (b1: every model at batch 1 only, no compute-sanitizer, diagnostics or PDL A/B;
#  tests: the GPU tests only; bench: the network benchmarks only (FP16 b1+b32, FP32 b1);
#  vbench: the vision end-to-end and MTCNN benchmarks only; exec CMD...: the set-up, then CMD;
#  mma: the mma.sync implicit-GEMM cases (plain and memcheck), then RFB-640 / YOLOv5n FP16 at batch 1 and 32
#  with and without those tiles;
#  nms: the NMS cases of test_vision_cuda (plain and memcheck) and test_nms_plugin, then the RFB-640 FP16
#  end to end;
#  cluster: the mma cases (plain, memcheck), then RFB-640 / YOLOv5n FP16 with and without cluster split-K;
#  ms: auxiliary-stream tests and the KESTREL_AUX_STREAMS A/B (FP16 b1 networks, RFB-640 end to end);
#  msplan: the concurrency-aware memory plan on / off (FP16 b1 networks);
#  pdl: programmatic dependent launch on/off A/B (RFB-640, YOLOv5n, YuNet-n FP16 b1; YOLOv5n b32), then two
#  model tests with it on;
#  win: the seventh session's kernels (rolling depthwise, window-staged tensor-core conv): their
#  cases (plain, memcheck), the model tests, then RFB-640 / YOLOv5n FP16 b32 and b1 with them off / on;
#  ncu: Nsight Compute on chosen kernels of one network (NCU_MODEL, NCU_SHAPE, NCU_KERNEL; see the mode);
#  io16: FP16 I/O bindings (--io-fp16): FP16 networks with and without it, the RFB-640 detector end to end
#  with FP32 / FP16 input (IO_VB_ALL=1: every family);
#  segmap: the YOLOv5n model test (default, the 64-bit segmap form, memcheck), then YOLOv5n FP16 at batch 1
#  and 32 with and without the segment-fuse pass;
#  memcheck: compute-sanitizer memcheck over the own kernels' op-case subsets (win, mma, stream, segmap / pool /
#  resize), the NMS cases and the YOLOv5n model test, each within 85 s (rc 124: its limit);
#  BENCH_ONLY="name ...": the benchmark rows of those models only, to split the bench mode over two calls)
# Uses carried binaries in .gpu-data/bin (built on the dev machine with
# `cmake -DKS_CUDA_ARCH=90`, see docs/format.md / bench/RESULTS.md) or builds
# into build-gpu when none are there; models from .gpu-data/models (a copy of
# ../shared/models) or $KESTREL_MODELS. Runs: the host-only format test, the
# GPU op and model tests (a subset under compute-sanitizer), then the
# benchmarks of every model in ../shared/ANCHORS.md at batch 1 and 32, FP32 and
# FP16, plus deserialize and cached-rebuild timings. Logs go to $OUT (packed
# into $OUT/logs.tar.gz); a short table is printed last.
set -u
OUT=${OUT:-/tmp/kestrel-gpu-out}
mkdir -p "$OUT/logs"
L=$OUT/logs
MODE=${1:-full}
G=$PWD/${KS_GPU_DATA:-.gpu-data}   # the carried folder (KS_GPU_DATA=.gpu-data-x for a second pack)
CUDNN_DIR=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib
[ -d "$CUDNN_DIR" ] && export LD_LIBRARY_PATH=$CUDNN_DIR:${LD_LIBRARY_PATH:-}
# libjpeg/libpng are not on the GPU machine: carried beside the binaries
[ -d "$G/lib" ] && export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$G/lib
export KESTREL_MODELS=${KESTREL_MODELS:-$G/models}
export KESTREL_IMAGES=${KESTREL_IMAGES:-$G/images}
BIN=${KS_BIN:-$G/bin}
# tools/gpu-pack.sh carries the binaries compressed (the 64 MiB carry limit)
if [ -z "${KS_BIN:-}" ] && [ -f "$G/bin.tar.xz" ]; then
    BIN=/tmp/kestrel-bin
    rm -rf "$BIN" && mkdir -p "$BIN" && tar xJf "$G/bin.tar.xz" -C "$BIN"
    for f in "$BIN"/tests/*; do ln -sf "$f" "$BIN/"; done
    export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$BIN/tests
    export KS_TEST_PLUGIN_PATH=$BIN/tests/libks_test_plugin.so
fi
if [ ! -x "$BIN/kestrel" ]; then
    echo "no carried binaries in $BIN: building"
    cmake -S . -B build-gpu -DKS_CUDA_ARCH=90 -DCMAKE_BUILD_TYPE=Release >"$L/cmake.log" 2>&1 &&
        cmake --build build-gpu -j16 >>"$L/cmake.log" 2>&1 || { echo "build failed"; tail -30 "$L/cmake.log"; }
    BIN=$PWD/build-gpu
    [ -x "$BIN/tests/test_gpu_ops" ] && for t in "$BIN"/tests/test_*; do ln -sf "$t" "$BIN/"; done
fi
M=$KESTREL_MODELS
K=$BIN/kestrel
if [ "$MODE" = exec ]; then
    # tools/gpu-check.sh exec CMD...: run CMD with the carried binaries set up ($BIN, $K = the CLI,
    # $M = models, $L = logs under $OUT), e.g. exec bash -c '$K bench --onnx $M/... --dump-profile'
    shift
    export BIN K M L
    "$@"
    exit $?
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$L/device.txt"
date -u | tee -a "$L/device.txt"
declare -A RES
t() { # name, cmd...: run a test with a time limit, record its status
    local name=$1; shift
    if [ ! -x "$1" ] && [ "$1" != compute-sanitizer ]; then printf "%-28s %-12s (not carried)\n" "$name" SKIP; return; fi
    local t0=$(date +%s%N)
    timeout 300 "$@" >"$L/$name.log" 2>&1
    local rc=$?
    local dt=$(( ($(date +%s%N) - t0) / 1000000 ))
    case $rc in 0) RES[$name]="PASS";; 77) RES[$name]="SKIP";; *) RES[$name]="FAIL(rc=$rc)";; esac
    printf "%-28s %-12s %7d ms  %s\n" "$name" "${RES[$name]}" "$dt" "$(tail -1 "$L/$name.log")"
}
if [ "$MODE" = nms ]; then
    echo "== NMS cases"
    KS_VISION_SKIP_DETECTOR=1 timeout 200 "$BIN/test_vision_cuda" >"$L/nms_cases.log" 2>&1; echo "  plain rc=$? $(tail -1 "$L/nms_cases.log")"
    grep -h "nms batch" "$L/nms_cases.log" | head -50
    KS_VISION_ONLY_NMS=1 timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 \
        "$BIN/test_vision_cuda" >"$L/nms_cases_memcheck.log" 2>&1
    echo "  memcheck rc=$? $(grep -h 'ERROR SUMMARY' "$L/nms_cases_memcheck.log" | tail -1)"
    timeout 100 "$BIN/test_nms_plugin" >"$L/nms_plugin.log" 2>&1; echo "  test_nms_plugin rc=$? $(tail -1 "$L/nms_plugin.log")"
    echo "== RFB-640 FP16 end to end"
    timeout 150 "$BIN/vision_bench" --fp16 --no-jpeg --iters 100 --models "$M" --images "$KESTREL_IMAGES" ultraface-rfb640 \
        >"$L/vbench_nms.log" 2>&1
    echo "  rc=$?"; grep -v "^#" "$L/vbench_nms.log" | tail -8
    finish() { tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$L"; exit 0; }
    finish
fi
# ab_bench KNOB "VALUES" TAG ROW...: same-binary FP16 network A/B. For each row (name|model file|input shape), twice,
# each value of the environment variable KNOB in turn: kestrel bench with a CUDA graph, no transfers, 300 runs, one
# timing cache per row (every value's engine picks the same tactics); prints median / min / p99 and the memory line
ab_bench() {
    local knob=$1 values=$2 tag=$3 row name file shape round v log
    shift 3
    for row in "$@"; do
        IFS='|' read -r name file shape <<<"$row"
        for round in 1 2; do for v in $values; do
            log="$L/${tag}_${name}_${v}_$round.log"
            env "$knob=$v" timeout 150 "$K" bench --onnx "$M/$file" --fp16 --shapes "$shape" --cuda-graph --no-transfers \
                --iterations 300 --warmup 0.3 --timing-cache "$L/tc_${tag}_$name.txt" >"$log" 2>&1
            printf "  %-11s round %s %s=%s: %s | %s\n" "$name" $round "$knob" "$v" "$(grep -h 'GPU compute' "$log" | \
                awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h '^memory' "$log")"
        done; done
    done
}
vb_ab() { # knob, values, tag: the RFB-640 FP16 detector end to end (1080p device frame -> boxes) per value, same binary
    local knob=$1 values=$2 tag=$3 v
    for v in $values; do
        env "$knob=$v" timeout 200 "$BIN/vision_bench" --fp16 --no-jpeg --iters 100 --models "$M" \
            --images "$KESTREL_IMAGES" ultraface-rfb640 >"$L/${tag}_vbench_$v.log" 2>&1
        echo "  $knob=$v rc=$?"; grep -v "^#" "$L/${tag}_vbench_$v.log" | tail -4
    done
}
if [ "$MODE" = ms ]; then
    # auxiliary streams (multistream.c): the op and model tests (CUDA-graph output bit-identical to eager, so
    # a missing dependency shows), the plugin tests (barrier layers), then KESTREL_AUX_STREAMS=0 / default
    # A/B in one binary: FP16 networks at batch 1 (twice, one timing cache per row) and the RFB-640 FP16
    # detector end to end (its whole-pipeline graph captures the engine)
    echo "== tests with auxiliary streams"
    for t in test_gpu_ops test_gpu_models test_nms_plugin test_plugin_engine; do
        [ -x "$BIN/$t" ] || continue
        timeout 240 "$BIN/$t" >"$L/ms_$t.log" 2>&1; echo "  $t rc=$? $(tail -1 "$L/ms_$t.log")"
    done
    echo "== FP16 b1: KESTREL_AUX_STREAMS=0 / default"
    ab_bench KESTREL_AUX_STREAMS "0 4" ms "RFB-640|ultraface/version-RFB-640.onnx|input:1x3x480x640" \
        "YOLOv5n|yolov5/yolov5n_fp16_dynamic.onnx|images:1x3x640x640" "YuNet-n|yunet/yunet_n_dynamic.onnx|input:1x3x640x640" \
        "SCRFD-2.5g|scrfd/scrfd_2.5g_bnkps_dynamic.onnx|input.1:1x3x640x640"
    echo "== RFB-640 FP16 end to end (1080p device frame -> boxes)"
    vb_ab KESTREL_AUX_STREAMS "0 4" ms
    tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$L"
    exit 0
fi
if [ "$MODE" = msplan ]; then
    # the concurrency-aware memory plan (passes_plan.c) on / off (KESTREL_PLAN_PARALLEL=0), auxiliary streams on:
    # FP16 b1 networks, one timing cache per row, alternated twice
    echo "== FP16 b1: KESTREL_PLAN_PARALLEL=0 / default"
    ab_bench KESTREL_PLAN_PARALLEL "0 1" mp "RFB-640|ultraface/version-RFB-640.onnx|input:1x3x480x640" \
        "YuNet-n|yunet/yunet_n_dynamic.onnx|input:1x3x640x640" "YOLOv5n|yolov5/yolov5n_fp16_dynamic.onnx|images:1x3x640x640"
    tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$L"
    exit 0
fi
if [ "$MODE" = pdl ]; then
    # programmatic dependent launch A/B in one binary: KESTREL_PDL=0 / 1 alternated twice per row, one timing cache
    # per row (both engines pick the same tactics), then YOLOv5n against the CPU reference with PDL on
    echo "== PDL A/B: KESTREL_PDL=0 / 1"
    ab_bench KESTREL_PDL "0 1" pdl "RFB-640|ultraface/version-RFB-640.onnx|input:1x3x480x640" \
        "YOLOv5n|yolov5/yolov5n_fp16_dynamic.onnx|images:1x3x640x640" "YuNet-n|yunet/yunet_n_dynamic.onnx|input:1x3x640x640" \
        "YOLOv5n-b32|yolov5/yolov5n_fp16_dynamic.onnx|images:32x3x640x640"
    KESTREL_PDL=1 timeout 150 "$BIN/test_gpu_models" yolov5 >"$L/pdl_m.log" 2>&1; echo "  PDL=1 gpu_models yolov5 rc=$? $(tail -1 "$L/pdl_m.log")"
    KESTREL_PDL=1 timeout 150 "$BIN/test_gpu_models" RFB-640 >"$L/pdl_m2.log" 2>&1; echo "  PDL=1 gpu_models RFB-640 rc=$? $(tail -1 "$L/pdl_m2.log")"
    tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$L"
    exit 0
fi
if [ "$MODE" = win ]; then
    # the seventh session's kernels: rolling-rows depthwise (own:depthwise:4), window-staged tensor-core conv
    # (own:direct:3..8). Their op cases (plain and memcheck) and the model tests, then FP16
    # RFB-640 / YOLOv5n at batch 32 and 1 with both off (KESTREL_DW_ROLL=off KESTREL_CONV_WIN=off) and on (default), same binary, no timing cache (each build times its own
    # candidates); per-layer profile of the default at batch 32
    echo "== op cases and model tests"
    KS_TEST_WIN_ONLY=1 timeout 200 "$BIN/test_gpu_ops" >"$L/win_cases.log" 2>&1
    echo "  cases rc=$? $(tail -1 "$L/win_cases.log")"; grep -h "case \|FAIL" "$L/win_cases.log" | head -20
    KS_TEST_WIN_ONLY=1 timeout 300 compute-sanitizer --tool memcheck \
        --error-exitcode 9 "$BIN/test_gpu_ops" >"$L/win_memcheck.log" 2>&1
    echo "  memcheck rc=$? $(grep -h 'ERROR SUMMARY' "$L/win_memcheck.log" | tail -1)"
    [ -n "${WIN_MODELS-1}" ] && { timeout 200 "$BIN/test_gpu_models" >"$L/win_models.log" 2>&1
        echo "  test_gpu_models rc=$? $(tail -1 "$L/win_models.log")"; grep -h "FAIL" "$L/win_models.log" | head; }
    echo "== FP16 networks (CUDA graph, no transfers, 200 runs): new kernels off / on"
    for row in "RFB-640|ultraface/version-RFB-640.onnx|input|480x640" "YOLOv5n|yolov5/yolov5n_fp16_dynamic.onnx|images|640x640"; do
        IFS='|' read -r name file in hw <<<"$row"
        for b in 32 1; do for v in off on; do
            log="$L/win_${name}_b${b}_$v.log"; extra=""; [ $b = 32 ] && [ $v = on ] && extra=--dump-profile
            if [ $v = off ]; then set -- env KESTREL_DW_ROLL=off KESTREL_CONV_WIN=off; else set -- env; fi
            "$@" timeout 150 "$K" bench --onnx "$M/$file" --fp16 --shapes "$in:${b}x3x$hw" --cuda-graph --no-transfers \
                --iterations 200 --warmup 0.3 $extra >"$log" 2>&1
            printf "  %-8s b%-2s %-3s %s | %s | %s\n" "$name" $b $v "$(grep -h 'GPU compute' "$log" | \
                awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' "$log" | awk '{print $5, "img/s"}')" \
                "$(grep -h 'build:' "$log" | head -1)"
        done; done
    done
    grep -h "by tactic" "$L"/win_*_b32_on.log
    tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$L"
    exit 0
fi
if [ "$MODE" = ncu ]; then
    # Nsight Compute on chosen kernels of one network run: NCU_MODEL (under models), NCU_SHAPE (IN:NxCxHxW),
    # NCU_KERNEL (regex of kernel names), NCU_SKIP / NCU_COUNT (launches of those kernels skipped / profiled),
    # NCU_ARGS (extra bench flags, default --fp16). A first bench run writes the timing cache and a
    # --dump-profile; the profiled run reuses the cache, so the build times nothing and the launches
    # counted are the network's (eager, one iteration, no warm-up)
    NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
    [ -z "$NCU" ] && { echo "no ncu"; exit 1; }
    A="--onnx $M/$NCU_MODEL ${NCU_ARGS:---fp16} --shapes $NCU_SHAPE --no-transfers --timing-cache $L/tc_ncu.txt"
    timeout 200 "$K" bench $A --cuda-graph --iterations 100 --warmup 0.2 --dump-profile >"$L/ncu_profile.log" 2>&1
    echo "  bench rc=$? $(grep -h 'GPU compute' "$L/ncu_profile.log")"
    timeout 300 "$NCU" --kernel-name "regex:$NCU_KERNEL" --launch-skip "${NCU_SKIP:-0}" --launch-count "${NCU_COUNT:-3}" \
        --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy \
        --section LaunchStats --section SchedulerStats ${NCU_EXTRA:-} \
        "$K" bench $A --iterations 1 --warmup 0 >"$L/ncu.log" 2>&1
    echo "  ncu rc=$?"; grep -v "^==PROF==\|^ *$" "$L/ncu.log" | grep -v "^  *-\+" | head -${NCU_LINES:-200}
    tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$L"
    exit 0
fi
if [ "$MODE" = io16 ]; then
    # FP16 I/O bindings (keep_io_dtypes 0, --io-fp16): FP16 networks with the declared float32 input (a cast
    # layer inside the engine) and with --io-fp16, same binary, one timing cache per row (IO_ROWS: name|model|
    # input|HxW rows); then the RFB-640 detector end to end in FP16 with KESTREL_DET_FP16_INPUT=0 (the old
    # float32 input) and default (FP16 written by the preprocessing kernel); IO_VB_ALL=1: every family too
    echo "== FP16 networks (CUDA graph, no transfers, 300 runs): declared I/O / --io-fp16"
    for row in ${IO_ROWS:-"RFB-640|ultraface/version-RFB-640.onnx|input|480x640"}; do
        IFS='|' read -r name file in hw <<<"$row"
        for b in 32 1; do for round in 1 2; do for v in f32io f16io; do
            [ $b = 32 ] && [ $round = 2 ] && continue
            log="$L/io_${name}_b${b}_${v}_$round.log"; extra=""; [ $v = f16io ] && extra=--io-fp16
            timeout 150 "$K" bench --onnx "$M/$file" --fp16 $extra --shapes "$in:${b}x3x$hw" --cuda-graph --no-transfers \
                --iterations 300 --warmup 0.3 --timing-cache "$L/tc_io_${name}_$b.txt" >"$log" 2>&1
            printf "  %-10s b%-2s %s %s | %s\n" "$name" $b $v "$(grep -h 'GPU compute' "$log" | \
                awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h 'throughput' "$log" | awk '{print $5, "img/s"}')"
        done; done; done
    done
    echo "== RFB-640 detector end to end, FP16 (1080p device frame -> boxes): FP32 input / FP16 input"
    vb_ab KESTREL_DET_FP16_INPUT "0 1" io
    [ -n "${IO_VB_ALL:-}" ] && VISION_BENCH_PRECISIONS=fp16 timeout 300 bash tools/vision-bench.sh "$BIN" --iters 100 --no-jpeg \
        | tee "$L/io_vision_bench.txt" | grep -v "^#"
    tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$L"
    exit 0
fi
if [ "$MODE" = memcheck ]; then
    # compute-sanitizer memcheck over the own kernels' op-case subsets and the YOLOv5n model test (no tactic
    # timing: the default own kernels), each with its own time limit so that the whole mode fits one call
    echo "== compute-sanitizer memcheck"
    for row in "win|KS_TEST_WIN_ONLY=1|test_gpu_ops" "mma|KS_TEST_MMA_ONLY=1|test_gpu_ops" \
               "stream|KS_TEST_STREAM_ONLY=1|test_gpu_ops" "segmap_pool_resize|KS_TEST_SEGMAP_ONLY=1|test_gpu_ops" \
               "nms|KS_VISION_ONLY_NMS=1|test_vision_cuda"; do
        IFS='|' read -r name knob bin <<<"$row"
        lim=85; [ "$name" = stream ] && lim=240  # the stream cases need more under memcheck (85 s ran out, tenth session)
        env $knob timeout $lim compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN/$bin" >"$L/mc_$name.log" 2>&1
        printf "  %-20s rc=%-3s %s | %s\n" "$name" $? "$(tail -1 "$L/mc_$name.log")" "$(grep -h 'ERROR SUMMARY' "$L/mc_$name.log" | tail -1)"
    done
    KS_TEST_NO_TACTICS=1 timeout 85 compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN/test_gpu_models" yolov5 \
        >"$L/mc_yolov5.log" 2>&1
    printf "  %-20s rc=%-3s %s | %s\n" yolov5_model $? "$(tail -1 "$L/mc_yolov5.log")" "$(grep -h 'ERROR SUMMARY' "$L/mc_yolov5.log" | tail -1)"
    tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$L"
    exit 0
fi
if [ "$MODE" = segmap ]; then
    echo "== segmap correctness (YOLOv5n vs the CPU reference)"
    timeout 120 "$BIN/test_gpu_models" yolov5 >"$L/m.log" 2>&1; echo "  gpu_models yolov5 rc=$? $(tail -1 "$L/m.log")"
    KESTREL_FAST_MOVE=0 KS_TEST_NO_TACTICS=1 timeout 90 "$BIN/test_gpu_models" yolov5 >"$L/mf.log" 2>&1
    echo "  64-bit form (KESTREL_FAST_MOVE=0), no tactics rc=$? $(tail -1 "$L/mf.log")"
    KS_TEST_NO_TACTICS=1 timeout 170 compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN/test_gpu_models" yolov5 \
        >"$L/mmc.log" 2>&1
    echo "  memcheck (no tactics) rc=$? $(grep -h 'ERROR SUMMARY' "$L/mmc.log" | tail -1)"
    echo "== YOLOv5n FP16 network (CUDA graph, no transfers, 200 runs): segment-fuse off / on"
    Y=$M/yolov5/yolov5n_fp16_dynamic.onnx
    for b in 1 32; do for sf in off on; do
        extra=""; [ $sf = off ] && extra=--no-segment-fuse; [ $b = 1 ] && [ $sf = on ] && extra="--dump-profile"
        timeout 150 "$K" bench --onnx "$Y" --fp16 --shapes images:${b}x3x640x640 --cuda-graph --no-transfers --iterations 200 \
            --warmup 0.3 --timing-cache "$L/tc_y_b$b.txt" $extra >"$L/yolo_b${b}_sf_$sf.log" 2>&1
        echo "  b$b segment-fuse $sf: $(grep -h 'build:' "$L/yolo_b${b}_sf_$sf.log") | $(grep -h 'GPU compute' "$L/yolo_b${b}_sf_$sf.log")"
    done; done
    grep -h "segmap\|by kind" "$L/yolo_b1_sf_on.log"
    tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$L"
    exit 0
fi
if [ "$MODE" != bench ] && [ "$MODE" != vbench ] && [ "$MODE" != mma ] && [ "$MODE" != cluster ]; then
echo "== tests"
t test_engine_format "$BIN/test_engine_format"
t test_engine_lowering "$BIN/test_engine_lowering"
t test_gpu_ops "$BIN/test_gpu_ops"
t test_gpu_models "$BIN/test_gpu_models"
# the vision pipeline, MTCNN cascade and plugins on the GPU vs their CPU references
t test_vision_cuda "$BIN/test_vision_cuda"
t test_mtcnn_cuda "$BIN/test_mtcnn_cuda"
t test_mtcnn_gpu "$BIN/test_mtcnn_gpu"
t test_nms_plugin "$BIN/test_nms_plugin"
t test_plugin_engine "$BIN/test_plugin_engine"
# the detection rule against the onnxruntime reference outputs, on the GPU detector
t test_detect_reference_gpu "$BIN/test_detect_reference" --gpu
t test_detect_reference_gpu_fp16 "$BIN/test_detect_reference" --gpu-fp16
if command -v compute-sanitizer >/dev/null && [ "$MODE" = full ]; then
    t sanitizer_vision compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN/test_vision_cuda"
fi
if command -v compute-sanitizer >/dev/null && [ "$MODE" = full ]; then
    t sanitizer_models_rfb320 compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN/test_gpu_models" RFB-320.onnx
fi
grep -h "FAIL\|CHECK failed" "$L"/test_*.log | head -30
if [ "$MODE" = full ]; then
    # diagnostics: FP16 error with the default own kernels only (no tactic timing)
    KS_TEST_NO_TACTICS=1 timeout 200 "$BIN/test_gpu_models" yunet_n_640 >"$L/diag_notactics_yunet.log" 2>&1
    KS_TEST_NO_TACTICS=1 timeout 200 "$BIN/test_gpu_models" retinaface >"$L/diag_notactics_retina.log" 2>&1
    grep -h "fp16" "$L"/diag_notactics_*.log | sed 's/^/  no-tactics: /'
fi
fi # tests
finish() {
    tar czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$L"
    echo "== tests"
    for k in "${!RES[@]}"; do printf "  %-28s %s\n" "$k" "${RES[$k]}"; done
    [ -f "$OUT/table.txt" ] && { echo "== table (gpu_ms: median network time, CUDA graph, no transfers; e2e_ms: pinned H2D+compute+D2H; img/s: back-to-back)"; cat "$OUT/table.txt"; }
    exit 0
}
[ "$MODE" = tests ] && finish
if [ "$MODE" = mma ] || [ "$MODE" = cluster ]; then
    # the mma.sync implicit-GEMM tiles (own:igemm:10..15): their op cases (plain and under compute-sanitizer),
    # then the FP16 networks with them (default) and without them (KESTREL_CONV_MMA=off), same binary;
    # the per-layer profile of the default build at batch 1 goes to the logs.
    # cluster: the same, with and without the cluster split-K configs (KESTREL_CONV_CLUSTER=off), batch 1 twice
    KNOB=KESTREL_CONV_MMA; ROUNDS="1"
    [ "$MODE" = cluster ] && KNOB=KESTREL_CONV_CLUSTER && ROUNDS="1 2"
    echo "== mma cases"
    KS_TEST_MMA_ONLY=1 timeout 200 "$BIN/test_gpu_ops" >"$L/mma_cases.log" 2>&1; echo "  plain rc=$? $(tail -1 "$L/mma_cases.log")"
    KS_TEST_MMA_ONLY=1 timeout 300 compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
        "$BIN/test_gpu_ops" >"$L/mma_cases_memcheck.log" 2>&1
    echo "  memcheck rc=$? $(grep -h 'ERROR SUMMARY' "$L/mma_cases_memcheck.log" | tail -1)"
    echo "== networks FP16 (GPU compute, CUDA graph, no transfers)"
    for row in ${MMA_ROWS:-"RFB-640|ultraface/version-RFB-640.onnx|input|480x640" "YOLOv5n|yolov5/yolov5n_fp16_dynamic.onnx|images|640x640"}; do
        IFS='|' read -r name file in hw <<<"$row"
        for b in 1 32; do for round in $ROUNDS; do
            [ $b = 32 ] && [ $round = 2 ] && continue
            for mma in off on; do
                extra=""; [ $b = 1 ] && [ $mma = on ] && extra=--dump-profile
                env $KNOB=$mma timeout 200 "$K" bench --onnx "$M/$file" --fp16 --shapes "$in:${b}x3x$hw" \
                    --cuda-graph --no-transfers --iterations 200 --warmup 0.3 $extra >"$L/${name}_b${b}_mma_$mma.log" 2>&1
                printf "  %-8s b%-2s %s=%-3s %s | %s\n" "$name" $b $KNOB $mma "$(grep 'GPU compute' "$L/${name}_b${b}_mma_$mma.log" | \
                    awk '{print "median", $8, "min", $4, "p99", $14}')" "$(grep -h "throughput" "$L/${name}_b${b}_mma_$mma.log" | head -1 | awk "{print \$5, \"img/s\"}")"
                cp "$L/${name}_b${b}_mma_$mma.log" "$L/${name}_b${b}_${KNOB}_${mma}_r$round.log"
            done
        done; done
    done
    [ "$MODE" = cluster ] && grep -h "cluster\|by tactic\|by kind" "$L"/*_b1_mma_on.log | head -60
    finish
fi
if [ "$MODE" = vbench ]; then
    echo "== vision end to end (1080p device frame -> boxes) and MTCNN"
    VISION_BENCH_PRECISIONS="fp16 fp32" timeout 330 bash tools/vision-bench.sh "$BIN" --iters 100 | tee "$L/vision_bench.txt" | grep -v "^#"
    MB=$(ls "$M"/mtcnn/caffe/det1.prototxt >/dev/null 2>&1 && echo "$M/mtcnn/caffe")
    [ -n "$MB" ] && timeout 200 "$BIN/mtcnn_bench" "$MB" "$KESTREL_IMAGES/ultraface/13.jpg" --frames 100 --streams 1,8 \
        --configs seed-b256,seed-b256-fb8,min40-b256-fb8,min20-b256-fb8 2>&1 | tee "$L/mtcnn_bench.txt" | tail -30
    finish
fi

echo "== benchmarks (network only: --no-transfers --cuda-graph, median GPU compute of 200 runs)"
# name | model | shape b1 (input:NxCxHxW) | input name for b32 (graphs exported for batch 1
# are rewritten for 32 by kestrel build/bench where the batch axis can be followed)
BENCH=(
"RFB-640|ultraface/version-RFB-640.onnx|input:1x3x480x640|input"
"RFB-320|ultraface/version-RFB-320.onnx|input:1x3x240x320|input"
"YuNet-n|yunet/yunet_n_dynamic.onnx|input:1x3x640x640|input"
"RetinaFace|retinaface/retinaface_mnet025_640_opset17.onnx|input0:1x3x640x640|input0"
"SCRFD-500m|scrfd/scrfd_500m_bnkps_dynamic.onnx|input.1:1x3x640x640|input.1"
"SCRFD-2.5g|scrfd/scrfd_2.5g_bnkps_dynamic.onnx|input.1:1x3x640x640|input.1"
"YOLOv5n|yolov5/yolov5n_fp16_dynamic.onnx|images:1x3x640x640|images"
"PNet-1080p|mtcnn/onnx_caffe/optimaizer_pnet.onnx|input:1x3x648x1152|input"
)
[ "$MODE" = quick ] && BENCH=("${BENCH[0]}" "${BENCH[6]}")
# BENCH_ONLY="RFB-640 YuNet-n ...": only those rows. The whole bench mode needs more than one device call's 600 s
# (the batch-32 builds time every tactic: 20-90 s each; the ninth session's call stopped after the PNet rows), so
# split it, e.g. BENCH_ONLY="RFB-640 RFB-320 YuNet-n RetinaFace" then "SCRFD-500m SCRFD-2.5g YOLOv5n PNet-1080p"
if [ -n "${BENCH_ONLY:-}" ]; then
    SEL=()
    for row in "${BENCH[@]}"; do
        for n in $BENCH_ONLY; do [ "${row%%|*}" = "$n" ] && SEL+=("$row"); done
    done
    BENCH=("${SEL[@]}")
fi
# bench: FP16 at batch 1 and 32, FP32 at batch 1 (and batch 32 for RFB-640 and YOLOv5n), no PDL A/B
printf "%-12s %-5s %5s %10s %10s %12s %8s\n" model prec batch "gpu_ms" "e2e_ms" "img/s" build_s >"$OUT/table.txt"
for row in "${BENCH[@]}"; do
    IFS='|' read -r name file shape b32in <<<"$row"
    for prec in fp32 fp16; do
        for batch in 1 32; do
            pf=""; [ $prec = fp16 ] && pf="--fp16"
            sh=$shape
            if [ $batch = 32 ]; then
                [ -z "$b32in" ] || [ "$MODE" = b1 ] && continue
                [ "$MODE" = bench ] && [ $prec = fp32 ] && [ "$name" != RFB-640 ] && [ "$name" != YOLOv5n ] && continue
                sh="${b32in}:32x${shape#*:1x}"
            fi
            tag=${name}_${prec}_b${batch}
            timeout 240 "$K" bench --onnx "$M/$file" $pf --shapes "$sh" --cuda-graph --no-transfers \
                --iterations 200 --warmup 0.3 --timing-cache "$L/tc_${name}_${prec}_b${batch}.txt" \
                --export-json "$L/$tag.json" $([ $batch = 1 ] && [ $prec = fp16 ] && echo --dump-profile) \
                >"$L/$tag.log" 2>&1 || echo "bench $tag failed: $(tail -2 "$L/$tag.log")"
            gms=$(grep -o '"gpu_ms": {"min": [0-9.]*, "mean": [0-9.]*, "median": [0-9.]*' "$L/$tag.json" 2>/dev/null | grep -o '[0-9.]*$')
            ips=$(grep -o '"throughput_images_per_s": [0-9.]*' "$L/$tag.json" 2>/dev/null | grep -o '[0-9.]*$')
            bs=$(grep -o '"build_s": [0-9.]*' "$L/$tag.json" 2>/dev/null | grep -o '[0-9.]*$')
            # with transfers (pinned H2D + D2H), batch 1 only
            e2e=""
            if [ $batch = 1 ]; then
                timeout 120 "$K" bench --onnx "$M/$file" $pf --shapes "$sh" --cuda-graph --iterations 200 \
                    --timing-cache "$L/tc_${name}_${prec}_b${batch}.txt" --export-json "$L/${tag}_xfer.json" \
                    >"$L/${tag}_xfer.log" 2>&1
                e2e=$(grep -o '"end_to_end_ms": {"min": [0-9.]*, "mean": [0-9.]*, "median": [0-9.]*' "$L/${tag}_xfer.json" 2>/dev/null | grep -o '[0-9.]*$')
            fi
            printf "%-12s %-5s %5s %10s %10s %12s %8s\n" "$name" $prec $batch "${gms:--}" "${e2e:--}" "${ips:--}" "${bs:--}" >>"$OUT/table.txt"
        done
    done
done
echo "== programmatic dependent launch A/B (b1, CUDA graph, no transfers; median GPU ms)"
[ "$MODE" = b1 ] || [ "$MODE" = bench ] && PDL_ROWS=() || PDL_ROWS=("RFB-640|ultraface/version-RFB-640.onnx|input:1x3x480x640" "YOLOv5n|yolov5/yolov5n_fp16_dynamic.onnx|images:1x3x640x640")
for row in "${PDL_ROWS[@]}"; do
    IFS='|' read -r name file shape <<<"$row"
    for prec in fp32 fp16; do
        pf=""; [ $prec = fp16 ] && pf="--fp16"
        for pdl in on off; do
            env $([ $pdl = on ] && echo KESTREL_PDL=1) "$K" bench --onnx "$M/$file" $pf --shapes "$shape" --cuda-graph \
                --no-transfers --iterations 500 --timing-cache "$L/tc_${name}_${prec}_b1.txt" >"$L/pdl_${name}_${prec}_${pdl}.log" 2>&1
            printf "  %-10s %-5s pdl %-3s %s\n" "$name" $prec $pdl "$(grep 'GPU compute' "$L/pdl_${name}_${prec}_${pdl}.log" | awk '{print $8}')"
        done
    done
done
echo "== engine file: build (cold / cached timing) and deserialize"
rm -f "$L/tc_rfb640.txt"
{ /usr/bin/time -f "cold build wall %e s" "$K" build --onnx "$M/ultraface/version-RFB-640.onnx" --fp16 --save "$L/rfb640.engine" --timing-cache "$L/tc_rfb640.txt" --verbose
  /usr/bin/time -f "cached rebuild wall %e s" "$K" build --onnx "$M/ultraface/version-RFB-640.onnx" --fp16 --save "$L/rfb640.engine" --timing-cache "$L/tc_rfb640.txt"
  "$K" bench --engine "$L/rfb640.engine" --cuda-graph --no-transfers --iterations 200
} >"$L/engine_file.log" 2>&1
grep -h "built\|wall\|deserialize\|GPU compute" "$L/engine_file.log"
rm -f "$L"/*.engine
finish
