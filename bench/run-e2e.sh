#!/usr/bin/env bash
# End-to-end benchmark (replication issue): bare scans, MLlib transform, Joule fp32, Joule int8
# from codes, in one run on one table (default 1,000,000 x 384). Not part of CI.
# Options: --rows N --dim D --repeats R
exec "$(dirname "${BASH_SOURCE[0]}")/run-main.sh" dev.joule.bench.EndToEndBench "$@"
