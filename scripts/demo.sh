#!/usr/bin/env bash
# The main job on embedded defaults, no Discord token and no API key needed:
# set up, index the starter corpus (and the framework article when ../shared/seed is there),
# then assess a sample question with the local LLM (Qwen2.5-Coder-1.5B-Instruct, in-process) and
# print the checked, cited answer; the variables fill in as they are judged (about a minute).
#   bash scripts/demo.sh                       # the local model
#   bash scripts/demo.sh --quick               # no model: the indicator engine, in seconds
#   bash scripts/demo.sh [--quick] "QUESTION"  # another question
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
if [ "$quick" = 1 ]; then bash scripts/setup.sh --quick; else bash scripts/setup.sh; fi
export HF_HUB_OFFLINE=1
sources=(knowledge/)
[ -d ../shared/seed ] && sources+=(../shared/seed/)
.venv/bin/analyst ingest "${sources[@]}"
question="${1:-Will Russia send troops into Kazakhstan to put down the unrest?}"
if [ "$quick" = 1 ]; then
  .venv/bin/analyst ask "$question" --engine indicators
else
  ANALYST_LLM_PROVIDER="${ANALYST_LLM_PROVIDER:-llamacpp}" .venv/bin/analyst ask "$question"
fi
