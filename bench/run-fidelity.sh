#!/usr/bin/env bash
# Issue 17's table on a real set: Debian package descriptions embedded with all-MiniLM-L6-v2, an
# MLlib logistic regression on their sections, and top-10 over the same embeddings. Per precision
# and method: agreement or recall@10 against fp32, bytes per row, kernel CPU per row. Makes the
# descriptions first if they are missing. About 5 minutes on 2 cores for all ~64k. Not part of CI.
# Options: --rows N (default all) --refs R (50000) --queries Q (500)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$("$ROOT/bench/data/debian-descriptions.sh")"
exec "$ROOT/bench/run-main.sh" dev.joule.bench.FidelityBench --data "$data" "$@"
