#!/usr/bin/env bash
# Kernel benchmark: roofline probe, then JMH rows/s for Joule's kernels, Lucene and a linear
# head, then one table. Takes ~5 minutes on 2 cores (--quick: ~2). Not part of CI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mvn -B -q -Dstyle.color=never -DskipTests -pl bench -am package
CP="$(ls bench/target/bench-*.jar | head -1):$(cat bench/target/classpath.txt)"
exec java -Xmx6g -XX:+IgnoreUnrecognizedVMOptions --add-modules=jdk.incubator.vector \
  -cp "$CP" dev.joule.bench.KernelBench "$@"
