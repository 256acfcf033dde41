#!/usr/bin/env bash
# Nightly benchmark: 1 % churn vs --full on the same table in one run (default 500,000 x 384).
# Takes ~5 minutes on 2 cores. Not part of CI. Options: --rows N --dim D --deletion-vectors true|false
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mvn -B -q -Dstyle.color=never -DskipTests -pl bench -am package
CP="$(ls bench/target/bench-*.jar | head -1):$(cat bench/target/classpath.txt)"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
# shellcheck disable=SC2046
exec java $(cat jobs/target/launcher/jvm.flags) -Xmx6g -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" \
  -cp "$CP" dev.joule.bench.NightlyBench "$@"
