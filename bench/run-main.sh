#!/usr/bin/env bash
# Builds the bench module and runs one of its Spark-side harnesses with the JVM flags Spark
# needs: bench/run-main.sh CLASS [ARGS...]. JOULE_BENCH_HEAP sets -Xmx (default 6g);
# JOULE_BENCH_JAVA_OPTS replaces that with other JVM options.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mvn -B -q -Dstyle.color=never -DskipTests -pl bench -am package
CP="$(ls bench/target/bench-*.jar | head -1):$(cat bench/target/classpath.txt)"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
MAIN="$1"
shift
# shellcheck disable=SC2046
exec java $(cat jobs/target/launcher/jvm.flags) ${JOULE_BENCH_JAVA_OPTS:--Xmx${JOULE_BENCH_HEAP:-6g}} \
  -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" -cp "$CP" "$MAIN" "$@"
