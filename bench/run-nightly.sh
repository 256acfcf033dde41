#!/usr/bin/env bash
# Nightly benchmark: 1 % churn vs --full on the same table in one run, then a warm night (default 500,000 x 384).
# Takes ~2.5 minutes on 2 cores (~6 at 2M rows). Not part of CI. Options: --rows N --dim D --churn PCT --deletion-vectors true|false --set key=value
exec "$(dirname "${BASH_SOURCE[0]}")/run-main.sh" dev.joule.bench.NightlyBench "$@"
