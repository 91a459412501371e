#!/usr/bin/env bash
# Set up skelrec in ./.venv.   Usage: bash install.sh [--dev]
#   --dev   also the test tools (pytest, ruff, Playwright) and, as root with apt, Debian's Chromium for browser tests
# torch is installed first, with an exact version, so that no later step picks a torch build by itself.
#   TORCH_INDEX_URL=...  where torch comes from, e.g. https://download.pytorch.org/whl/cpu (CPU-only, small) or
#                        https://download.pytorch.org/whl/cu128 (a CUDA 12.8 build). Unset: pip's configured
#                        sources (on the project's build machines a local CPU wheel; on PyPI, Linux, a CUDA build).
set -euo pipefail
cd "$(dirname "$0")"
dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) echo "install.sh: unknown option $arg (use --dev)" >&2; exit 2 ;;
  esac
done
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip
pip install -q "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
if [ "$dev" = 1 ]; then
  pip install -q -e ".[dev]"
  if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "install.sh: could not install chromium; browser tests will be skipped" >&2
  fi
else
  pip install -q -e .
fi
echo "skelrec installed in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
