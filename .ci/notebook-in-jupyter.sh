#!/usr/bin/env bash
# CI step: one notebook executed through real Jupyter (nbconvert --execute, Debian's Jupyter) on
# the "Java (Joule)" kernel that notebooks/install-kernel.sh installs. NotebooksIT runs every
# notebook's cells through JShell and stays the fast path; this step checks the kernel, its
# launcher and Jupyter themselves. Run it after the build (.ci/run's `mvn -B verify`); it builds
# Joule if the jars are missing.
#   1. StartupRaceCheck: rapaio-jupyter-kernel 3.0.1's start-up race (a kernel_info_request that
#      arrives before its handlers are set kills the shell thread), shown on the kernel's own
#      Channels.connect, and closed by Joule's launcher (notebooks/kernel/JouleKernel.java).
#   2. The kernel installed into a scratch Jupyter data folder, with a small sample.
#   3. NOTEBOOK executed headless; any cell error, a missing output or chart fails the step.
#   JOULE_CI_NOTEBOOK           the notebook (default notebooks/01-explore-embeddings.ipynb)
#   JOULE_CI_NOTEBOOK_TIMEOUT   seconds for the whole nbconvert run (default 900)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NOTEBOOK="${JOULE_CI_NOTEBOOK:-notebooks/01-explore-embeddings.ipynb}"
LIMIT="${JOULE_CI_NOTEBOOK_TIMEOUT:-900}"
export SPARK_LOCAL_IP=127.0.0.1
PY=/usr/bin/python3       # Debian's Jupyter lives in the system python, not in pyenv or a venv
JUPYTER=/usr/bin/jupyter

# 0. Debian's Jupyter, installed as .ci/run installs Chromium.
if [[ ! -x "$JUPYTER" ]] || ! "$PY" -c 'import nbconvert, nbclient, jupyter_client' 2>/dev/null; then
  sudo=""
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "notebook CI needs Jupyter: run as root or with sudo, or apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel"; exit 1; }
    sudo="sudo"
  fi
  command -v apt-get >/dev/null || { echo "notebook CI needs Jupyter, and installs it with apt-get (Debian)"; exit 1; }
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel >/dev/null
fi
"$JUPYTER" nbconvert --version | sed 's/^/jupyter nbconvert /'

tmp="$(mktemp -d)"
# A kernel outlives an nbconvert that `timeout` killed: end this step's (its JVM options name $tmp).
cleanup() {
  local pids
  pids="$(pgrep -f -- "-Djoule.notebook.dir=$tmp/data" || true)"
  [[ -z "$pids" ]] || kill $pids 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
# The kernel goes into a scratch Jupyter data folder, not the user's.
export JUPYTER_DATA_DIR="$tmp/jupyter"

# 2 (first: it compiles the launcher that step 1 runs). The kernel, on a small sample.
JOULE_KERNEL_NAME=joule-java-ci \
JOULE_NOTEBOOK_JAVA_OPTS="-Xmx2g -Djoule.notebook.dir=$tmp/data -Djoule.notebook.rows=3000 -Djoule.notebook.dim=32 -Dspark.sql.warehouse.dir=$tmp/warehouse" \
  notebooks/install-kernel.sh

# 1. The start-up race, deterministically: present in the kernel's own start, absent in Joule's.
KCP="notebooks/.kernel/classes:$(ls notebooks/.kernel/rapaio-jupyter-kernel-*.jar)"
#    Exit 3: inconclusive (the shell thread lost the other, LoopThread race first); run again.
for attempt in 1 2 3; do
  rc=0
  timeout 120 java -cp "$KCP" dev.joule.notebooks.StartupRaceCheck --unguarded >"$tmp/race-unguarded.txt" 2>&1 || rc=$?
  [[ $rc -eq 3 ]] || break
done
[[ $rc -eq 0 ]] || { cat "$tmp/race-unguarded.txt"; echo "notebook CI: the kernel's own start did not show the race (exit $rc; see notebooks/README.md)"; exit 1; }
grep "^race-check:" "$tmp/race-unguarded.txt"
timeout 120 java -cp "$KCP" dev.joule.notebooks.StartupRaceCheck >"$tmp/race-guarded.txt" 2>&1 \
  || { cat "$tmp/race-guarded.txt"; echo "notebook CI: Joule's kernel launcher did not answer an early kernel_info_request"; exit 1; }
grep "^race-check:" "$tmp/race-guarded.txt"

# 3. One notebook through nbconvert --execute. It stops at the first cell error and exits non-zero.
#    startup_timeout bounds the kernel's start (JVM, JShell on Joule's classpath: 20-35 s on a busy
#    2-core machine); nbclient does not retry it.
mkdir -p "$tmp/nb" "$tmp/out"
cp "$NOTEBOOK" "$tmp/nb/"
name="$(basename "$NOTEBOOK")"
start=$SECONDS
if ! timeout "$LIMIT" "$JUPYTER" nbconvert --to notebook --execute \
    --ExecutePreprocessor.kernel_name=joule-java-ci \
    --ExecutePreprocessor.startup_timeout=180 \
    --ExecutePreprocessor.timeout=600 \
    --output-dir "$tmp/out" "$tmp/nb/$name" >"$tmp/nbconvert.txt" 2>&1; then
  tail -60 "$tmp/nbconvert.txt"
  echo "notebook CI: $name failed in Jupyter (or ran past ${LIMIT}s)"
  exit 1
fi
echo "notebook CI: $name executed in Jupyter in $((SECONDS - start)) s"

# Every code cell ran, none has an error output, the last one has a result, and one chart was drawn.
"$PY" - "$tmp/out/$name" "$tmp/data" <<'PY'
import json, os, sys
nb = json.load(open(sys.argv[1]))
code = [c for c in nb["cells"] if c["cell_type"] == "code"]
bad = [i for i, c in enumerate(code, 1) if c.get("execution_count") is None]
assert not bad, f"code cells not executed: {bad}"
errors = [i for i, c in enumerate(code, 1) if any(o["output_type"] == "error" for o in c["outputs"])]
assert not errors, f"code cells with an error output: {errors}"
assert code[-1]["outputs"], "the last code cell has no output"
pngs = [f for _, _, fs in os.walk(sys.argv[2]) for f in fs if f.endswith(".png")]
assert len(pngs) == 1, f"expected one chart under {sys.argv[2]}, found {pngs}"
print(f"notebook CI: {len(code)} code cells ran, no errors, chart {pngs[0]}")
PY
