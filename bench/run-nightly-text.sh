#!/usr/bin/env bash
# A night over real text at 1 % churn against embedding every text again (embed issue). Makes
# the Debian descriptions first if they are missing. Not part of CI. Options: --rows N (20000)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$("$ROOT/bench/data/debian-descriptions.sh")"
exec "$ROOT/bench/run-main.sh" dev.joule.bench.NightlyTextBench --data "$data" "$@"
