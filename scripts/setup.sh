#!/usr/bin/env bash
# Installs kestrel's build and test dependencies (Debian packages + PyPI),
# idempotently. Safe to re-run. Needs root for apt-get (or sudo).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS="cmake make gcc g++ protobuf-c-compiler libprotobuf-c-dev libonnx-dev libonnx-testdata
      libjpeg62-turbo-dev libpng-dev python3 python3-pip valgrind"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
# onnxruntime + onnx + numpy: the reference the tests compare against.
if ! python3 -c "import onnxruntime, onnx, numpy" >/dev/null 2>&1; then
    echo "setup: installing onnxruntime, onnx, numpy from PyPI"
    python3 -m pip install -q onnxruntime onnx numpy 2>/dev/null ||
        python3 -m pip install -q --break-system-packages onnxruntime onnx numpy
fi
echo "setup: dependencies ready"
