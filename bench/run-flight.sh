#!/usr/bin/env bash
# Bridge benchmark: 100,000 x 768 int8 rows through a Flight node on loopback vs the in-process
# node, alternating rounds in one run. About a minute on 2 cores. Not part of CI.
# Options: --rows N --dim D --batch-rows B --rounds R --node host:port (an external `joule accel-node`)
JOULE_BENCH_HEAP="${JOULE_BENCH_HEAP:-3g}" exec "$(dirname "${BASH_SOURCE[0]}")/run-main.sh" dev.joule.bench.FlightBench "$@"
