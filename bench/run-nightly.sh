#!/usr/bin/env bash
# Nightly benchmark: 1 % churn vs --full on the same table in one run, then a warm night (default 500,000 x 384),
# with the night's Spark jobs by step. Takes ~2.5 minutes on 2 cores (~4 at 1M rows). Not part of CI.
# Options: --rows N --dim D --churn PCT --deletion-vectors true|false --set key=value
#
# bench/run-nightly.sh --terms [--rows N] [--dim D]: the three terms of a night (fixed, per changed
# row, per table row), fitted from four nights, each a fresh bin/joule process (tables of N and 2N
# rows, 1 % and 10 % churn), against a full MLlib recompute in a fresh process, and projected to
# 100M and 1B rows (labelled a projection). Default N = 1,000,000: ~15 minutes, ~20 GB of disk.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${1:-}" == "--terms" ]]; then
  shift
  export JOULE_NO_BUILD=1 # run-main.sh builds first; the nights' processes must not rebuild
  exec "$ROOT/bench/run-main.sh" dev.joule.bench.NightlyTermsBench --root "$ROOT" "$@"
fi
# The nights run with bin/joule's JVM options, as a user's nights do.
JOULE_BENCH_JAVA_OPTS="${JOULE_BENCH_JAVA_OPTS:-$("$ROOT/bin/java-opts")}" exec "$ROOT/bench/run-main.sh" \
  dev.joule.bench.NightlyBench "$@"
