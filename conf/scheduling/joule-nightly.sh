#!/usr/bin/env bash
# One night of scoring through spark-submit, as joule-nightly.cron and joule-nightly.service run
# it: the night given as $1 (YYYY-MM-DD), else yesterday (UTC). Installed under /opt/joule, with
# the joule-spark jar that `mvn -DskipTests package` writes under dist/target/ (Joule, Delta Lake
# and Arrow Flight; Spark 4.1 itself comes from SPARK_HOME). This is the line
#   bin/joule --conf /opt/joule/conf/nightly.conf submit --master 'local[*]' \
#     --spark-conf spark.driver.memory=4g --print-only nightly --date NIGHT
# prints; for a cluster, change --master (and print the line again to compare). The line is
# checked against `joule submit` by SchedulingExamplesTest, not run by the tests.
# Exit codes: 0 done or already done, 2 usage/config, 3 input data, 4 quality gate,
# 5 concurrent run, 1 other.
set -euo pipefail
NIGHT="${1:-$(date -u -d yesterday +%F)}"
cd /opt/joule   # nightly.conf's relative paths (joule-data/...) are relative to this folder
exec "${SPARK_HOME:-/opt/spark}/bin/spark-submit" \
  --master 'local[*]' \
  --deploy-mode client \
  --class dev.joule.jobs.Main \
  --name 'joule nightly' \
  --driver-java-options '-XX:+IgnoreUnrecognizedVMOptions --add-modules=jdk.incubator.vector' \
  --conf 'spark.executor.extraJavaOptions=-XX:+IgnoreUnrecognizedVMOptions --add-modules=jdk.incubator.vector' \
  --conf spark.driver.memory=4g \
  --files /opt/joule/conf/nightly.conf \
  /opt/joule/dist/target/joule-spark-0.1.0-SNAPSHOT-all.jar \
  --conf /opt/joule/conf/nightly.conf \
  nightly --date "$NIGHT"
