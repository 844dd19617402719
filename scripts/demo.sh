#!/usr/bin/env bash
# The main job on embedded defaults, no Discord token and no API key needed:
# set up, index the starter corpus (and the framework article when ../shared/seed is there),
# then assess a sample question with the indicator engine and print the scored, cited answer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
sources=(knowledge/)
[ -d ../shared/seed ] && sources+=(../shared/seed/)
.venv/bin/analyst ingest "${sources[@]}"
.venv/bin/analyst ask "${1:-Will Russia send troops into Kazakhstan to put down the unrest?}"
