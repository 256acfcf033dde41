#!/usr/bin/env bash
# Real text with real labels: the short descriptions of Debian's binary packages, each labelled
# by its Section (libs, devel, python, doc, games, ...), from this machine's apt lists
# (`apt-cache dumpavail`; runs `apt-get update` first if there are none). One package per line of
# JSON: {"id":"0ad","section":"games","text":"Real-time strategy game of ancient warfare"}.
# Packages listed twice (bookworm and its updates) are kept once, at their last listing.
#
#   bench/data/debian-descriptions.sh [--rows N]   # N rows, a fixed sample spread over all sections
# Writes ${JOULE_DATA_CACHE:-$HOME/.cache/joule}/debian-descriptions[-N].jsonl and prints its path.
set -euo pipefail
rows=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    *) echo "usage: $0 [--rows N]" >&2; exit 2 ;;
  esac
done
cache="${JOULE_DATA_CACHE:-$HOME/.cache/joule}"
out="$cache/debian-descriptions${rows:+-$rows}.jsonl"
if [[ -s "$out" ]]; then echo "$out"; exit 0; fi
command -v apt-cache >/dev/null || { echo "debian-descriptions needs apt-cache (Debian)" >&2; exit 1; }
if [[ "$(apt-cache dumpavail 2>/dev/null | head -c 1 | wc -c)" -eq 0 ]]; then
  sudo=""; [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null
fi
mkdir -p "$cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# deb822 records: Package, Section (contrib/ and non-free/ prefixes dropped), the Description's
# first line. The JSON escapes backslashes, quotes and tabs; descriptions hold no other controls.
apt-cache dumpavail | awk '
  function esc(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\t/, " ", s); return s }
  function flush() {
    if (pkg != "" && sec != "" && desc != "") { last[pkg] = "{\"id\":\"" esc(pkg) "\",\"section\":\"" esc(sec) "\",\"text\":\"" esc(desc) "\"}" }
    pkg = ""; sec = ""; desc = ""
  }
  /^$/ { flush(); next }
  /^Package: / { pkg = substr($0, 10) }
  /^Section: / { sec = substr($0, 10); sub(/^.*\//, "", sec) }
  /^Description: / { desc = substr($0, 14) }
  END { flush(); for (p in last) print last[p] }
' | LC_ALL=C sort > "$work/all.jsonl"
if [[ -n "$rows" ]]; then
  # A fixed sample: every k-th package in name order, so each section keeps its share.
  total="$(wc -l < "$work/all.jsonl")"
  awk -v n="$rows" -v t="$total" 'BEGIN { k = t / n } NR == 1 + int(c * k) && c < n { print; c++ }' \
    "$work/all.jsonl" > "$work/out.jsonl"
else
  cp "$work/all.jsonl" "$work/out.jsonl"
fi
mv "$work/out.jsonl" "$out"
echo "$out"
