#!/usr/bin/env bash
# Nightly benchmark: 1 % churn vs --full on the same table in one run, then a warm night (default 500,000 x 384),
# with the night's Spark jobs by step. Takes ~2.5 minutes on 2 cores (~4 at 1M rows). Not part of CI.
# Options: --rows N --dim D --churn PCT --deletion-vectors true|false --set key=value
#
# bench/run-nightly.sh --terms [--rows N] [--dim D]: the three terms of a night (fixed, per changed
# row, per table row), fitted from four nights, each a fresh bin/joule process (tables of N and 2N
# rows, 1 % and 10 % churn), against a full MLlib recompute in a fresh process, and projected to
# 100M and 1B rows (labelled a projection). Default N = 1,000,000: ~15 minutes, ~20 GB of disk while
# it runs; its tables are removed at the end (--keep true leaves them; the logs stay either way).
#
# bench/run-nightly.sh --ab DIR [--rows N] [--rounds R]: a change's effect on a scheduled night:
# R rounds of 1 % churn (default 8, N = 300,000), each night scored by DIR's bin/joule (another
# checkout, built: the commit before) and this one's, as fresh processes, in turn. ~1 minute a round.
# Its tables are removed at the end too (--keep true leaves them).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${1:-}" == "--ab" ]]; then
  # bench/run-nightly.sh --ab DIR [--rows N] [--rounds R]: the same 1 % nights, each a fresh
  # process, by another built checkout DIR (before) and this one (after), in turn (NightlyAbBench).
  export JOULE_NO_BUILD=1
  exec "$ROOT/bench/run-main.sh" dev.joule.bench.NightlyAbBench --root "$ROOT" "$@"
fi
if [[ "${1:-}" == "--terms" ]]; then
  shift
  export JOULE_NO_BUILD=1 # run-main.sh builds first; the nights' processes must not rebuild
  exec "$ROOT/bench/run-main.sh" dev.joule.bench.NightlyTermsBench --root "$ROOT" "$@"
fi
# The nights run with bin/joule's JVM options, as a user's nights do.
JOULE_BENCH_JAVA_OPTS="${JOULE_BENCH_JAVA_OPTS:-$("$ROOT/bin/java-opts")}" exec "$ROOT/bench/run-main.sh" \
  dev.joule.bench.NightlyBench "$@"
