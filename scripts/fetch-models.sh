#!/usr/bin/env bash
# Makes the pretrained models and test images available under models/ and
# images/ (git-ignored), checking every file's sha256 against
# scripts/models.sha256.
#   1. copies them from $KESTREL_SHARED (default: ../shared beside the repo);
#   2. else, with --download, fetches each from its public source URL listed
#      in scripts/models.sources (sha256-checked; no file is used unchecked).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${KESTREL_SHARED:-$ROOT/../shared}
LOCK=$ROOT/scripts/models.sha256
SOURCES=$ROOT/scripts/models.sources
download=0
[ "${1:-}" = "--download" ] && download=1
cd "$ROOT"
n_ok=0; n_bad=0
while read -r sum path; do
    [ -z "$sum" ] && continue
    case "$sum" in \#*) continue ;; esac
    dst=$ROOT/$path
    if [ -f "$dst" ] && echo "$sum  $dst" | sha256sum -c --status 2>/dev/null; then
        n_ok=$((n_ok + 1)); continue
    fi
    mkdir -p "$(dirname "$dst")"
    if [ -f "$SHARED/$path" ]; then
        cp "$SHARED/$path" "$dst.tmp"
    elif [ $download -eq 1 ]; then
        url=$(awk -v p="$path" '$1 == p {print $2}' "$SOURCES" 2>/dev/null || true)
        if [ -z "$url" ]; then
            echo "fetch-models: no source URL known for $path" >&2; n_bad=$((n_bad + 1)); continue
        fi
        curl -fsSL "$url" -o "$dst.tmp" || { echo "fetch-models: download failed: $url" >&2; n_bad=$((n_bad + 1)); continue; }
    else
        echo "fetch-models: missing $path (not in $SHARED; run with --download)" >&2
        n_bad=$((n_bad + 1)); continue
    fi
    if echo "$sum  $dst.tmp" | sha256sum -c --status; then
        mv "$dst.tmp" "$dst"; chmod 644 "$dst"; n_ok=$((n_ok + 1))
    else
        rm -f "$dst.tmp"; echo "fetch-models: sha256 mismatch for $path" >&2; n_bad=$((n_bad + 1))
    fi
done < "$LOCK"
echo "fetch-models: $n_ok files ready under models/ and images/, $n_bad missing or bad"
[ $n_bad -eq 0 ]
