#!/usr/bin/env bash
# What a user pays per command (issue 24): each variant its own fresh process, measured by
# /usr/bin/time (user + sys of the whole process), interleaved for R rounds; medians, spread, and
# ratios to MLlib's transform and to a bare scan. Not part of CI. joule runs with bin/joule's JVM
# options (JOULE_JAVA_OPTS overrides them); the Java programs with PEER_JAVA_OPTS (-Xmx4g).
# JOULE_ALT_JAVA_OPTS adds every joule variant again with those options, in the same rounds
# (JOULE_ALT_CDS=0: and without the class-data archive); PEER_ALT_JAVA_OPTS does the same for
# the Java programs ($ROOT in it is the repository root). JOULE_BEFORE_ROOT=DIR adds every joule
# variant again run by DIR/bin/joule, another checkout, built (say, the commit before a change).
# Options: --rows N (default 200000) --dim D (384) --rounds R (3)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rows=200000 dim=384 rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --dim) dim="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
DIR="$ROOT/bench/target/process-bench"
rm -rf "$DIR"
(cd "$ROOT" && mvn -B -q -Dstyle.color=never -DskipTests -pl bench -am package)
export JOULE_NO_BUILD=1
J="$ROOT/bin/joule"
"$J" generate --rows "$rows" --dim "$dim" --classes 10 --out "$DIR/gen" >/dev/null
"$J" generate --rows 1000 --dim "$dim" --classes 10 --out "$DIR/tiny" >/dev/null
"$J" generate --rows 10000 --dim "$dim" --classes 10 --out "$DIR/small" >/dev/null
"$J" train --input "$DIR/tiny/embeddings" --label-col label --algo lr --out "$DIR/model/lr.json" >/dev/null
"$J" quantize --input "$DIR/gen/embeddings" --precision int8 --out "$DIR/codes-int8" >/dev/null
# The launcher's class-data archive, written by one unmeasured score as a user's first command
# writes it (the commands above would have left one with generate's classes).
rm -f "$ROOT"/jobs/target/launcher/joule-*.jsa
"$J" score --input "$DIR/tiny/embeddings" --model "$DIR/tiny/teacher-model.json" --precision fp32 \
  --out "$DIR/warm-up" >/dev/null
if [[ -n "${JOULE_ALT_JAVA_OPTS:-}" && "${JOULE_ALT_CDS:-1}" != 0 ]]; then
  # The other options' archive too, so that no measured run writes one.
  JOULE_JAVA_OPTS="$JOULE_ALT_JAVA_OPTS" "$J" score --input "$DIR/tiny/embeddings" \
    --model "$DIR/tiny/teacher-model.json" --precision fp32 --out "$DIR/warm-up-alt" >/dev/null
fi
CP="$(ls "$ROOT"/bench/target/bench-*.jar | head -1):$(cat "$ROOT/bench/target/classpath.txt")"
# shellcheck disable=SC2046
exec java $(cat "$ROOT/jobs/target/launcher/jvm.flags") -Xmx1g -Dlog4j2.configurationFile="$ROOT/conf/log4j2.properties" \
  -cp "$CP" dev.joule.bench.ProcessBench --dir "$DIR" --rows "$rows" --dim "$dim" --rounds "$rounds" --root "$ROOT"
