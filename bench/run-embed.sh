#!/usr/bin/env bash
# The text encoder on real text (embed issue): fp32 vs the int8 model, texts/s, CPU and estimated
# energy per 1k texts, and the int8 model's agreement with fp32 (mean cosine, top-10 recall).
# Makes the Debian descriptions first if they are missing. Not part of CI.
# Options: --rows N (default all, about 64k) --queries Q (500) --batch B (64)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$("$ROOT/bench/data/debian-descriptions.sh")"
exec "$ROOT/bench/run-main.sh" dev.joule.bench.EmbedBench --data "$data" "$@"
