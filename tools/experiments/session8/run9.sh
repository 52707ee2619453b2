#!/bin/bash
# Run on the GPU machine as: tools/gpu-check.sh exec bash tools/experiments/session8/run9.sh ($BIN, $K, $M, $OUT set by gpu-check.sh)
# eighth session, second round (after the per-value epilogue change): the same tests and benchmarks as run8.sh
exec bash "$(dirname "$0")/run8.sh"
