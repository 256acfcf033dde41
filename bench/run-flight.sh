#!/usr/bin/env bash
# Bridge benchmark: 100,000 x 768 int8 rows through a Flight node on loopback vs the in-process
# node, alternating rounds in one run. About a minute on 2 cores. Not part of CI.
# Options: --rows N --dim D --batch-rows B --rounds R --node host:port (an external `joule accel-node`)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mvn -B -q -Dstyle.color=never -DskipTests -pl bench -am package
CP="$(ls bench/target/bench-*.jar | head -1):$(cat bench/target/classpath.txt)"
# shellcheck disable=SC2046
exec java $(cat jobs/target/launcher/jvm.flags) -Xmx3g -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" \
  -cp "$CP" dev.joule.bench.FlightBench "$@"
