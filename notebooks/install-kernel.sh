#!/usr/bin/env bash
# Installs the Jupyter kernel "Java (Joule)" for the notebooks in this folder: the Java kernel
# io.github.padreati:rapaio-jupyter-kernel from Maven Central, given Joule's classpath and the JVM
# flags Spark and the Vector API need (the same ones bin/joule uses), started through Joule's
# launcher notebooks/kernel/JouleKernel.java, which closes two start-up races of the kernel.
#   JOULE_KERNEL_NAME          kernelspec name (default joule-java; the notebooks ask for it)
#   JOULE_NOTEBOOK_JAVA_OPTS   extra JVM options of the kernel (default -Xmx4g)
# Needs Jupyter (Debian: sudo apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient
# python3-ipykernel), a JDK (javac) and Maven. Then: jupyter notebook notebooks/
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RJK_VERSION=3.0.1
NAME="${JOULE_KERNEL_NAME:-joule-java}"
PY="$(command -v python3 || true)"
JAVA="$(command -v java || true)"
KDIR="$ROOT/notebooks/.kernel"
LAUNCH="$ROOT/jobs/target/launcher"

command -v jupyter >/dev/null || {
  echo "install-kernel: jupyter not found; on Debian: sudo apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel" >&2
  exit 2
}
command -v mvn >/dev/null || { echo "install-kernel: Maven (mvn) is needed" >&2; exit 2; }
[[ -n "$PY" ]] || { echo "install-kernel: python3 is needed" >&2; exit 2; }
[[ -n "$JAVA" ]] || { echo "install-kernel: java (JDK 17+) is needed" >&2; exit 2; }
JAVA="$(readlink -f "$JAVA")"   # the kernel may start with another PATH than this shell
JAVAC="$(dirname "$JAVA")/javac"
[[ -x "$JAVAC" ]] || { echo "install-kernel: $JAVAC not found: a JDK (not a JRE) is needed" >&2; exit 2; }

# 1. Joule's jars and classpath, built the way bin/joule builds them.
if ! ls "$ROOT"/jobs/target/jobs-*.jar >/dev/null 2>&1 || [[ ! -f "$LAUNCH/classpath.txt" || ! -f "$LAUNCH/jvm.flags" ]]; then
  echo "install-kernel: building Joule (mvn -DskipTests package)..." >&2
  (cd "$ROOT" && mvn -B -q -Dstyle.color=never -DskipTests package)
fi
JAR=""
for j in "$ROOT"/jobs/target/jobs-*.jar; do
  [[ "$j" == *-tests.jar ]] || JAR="$j"
done
[[ -f "$JAR" ]] || { echo "install-kernel: no jobs jar under $ROOT/jobs/target after the build" >&2; exit 1; }
CLASSPATH_FILE="$(cat "$LAUNCH/classpath.txt")"
JVM_FLAGS="$(cat "$LAUNCH/jvm.flags")"

# 2. The kernel, from Maven Central.
mvn -B -q -Dstyle.color=never dependency:copy -Dartifact="io.github.padreati:rapaio-jupyter-kernel:$RJK_VERSION" \
  -DoutputDirectory="$KDIR" >&2
KJAR="$KDIR/rapaio-jupyter-kernel-$RJK_VERSION.jar"

# 2b. Joule's launcher for it (kernel/JouleKernel.java): the kernel's own start, less two races
#     that hang some starts (its shell thread dies when Jupyter's first kernel_info_request comes
#     before the handlers are set, or ends before its first pass; see README.md).
rm -rf "$KDIR/classes"
"$JAVAC" -nowarn -d "$KDIR/classes" -cp "$KJAR" "$ROOT"/notebooks/kernel/*.java

# 3. Let the kernel write its own kernelspec (-i -auto) into a scratch home, then give it Joule's
#    classpath and flags and install it under $NAME. rapaio splits RJK_CLASSPATH on ';' only.
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
"$JAVA" -Duser.home="$SCRATCH" -jar "$KJAR" -i -auto >/dev/null
SPEC_FILE="$(find "$SCRATCH" -name kernel.json | head -1)"
if [[ -z "$SPEC_FILE" ]]; then
  echo "install-kernel: the kernel's installer wrote no kernel.json under $SCRATCH" >&2
  exit 1
fi
SPEC="$(dirname "$SPEC_FILE")"
rm -f "$SPEC"/*.jar
"$PY" - "$SPEC/kernel.json" "$KDIR/classes:$KJAR" "$JAR:$CLASSPATH_FILE" "$JVM_FLAGS" "$JAVA" \
  "${JOULE_NOTEBOOK_JAVA_OPTS:--Xmx4g}" "$ROOT/conf/log4j2.properties" "$ROOT/notebooks/kernel-init.jsh" <<'PY'
import json, sys
path, kernel_cp, classpath, flags, java, opts, log4j, init = sys.argv[1:]
spec = json.load(open(path))
spec["argv"] = ([java] + flags.split() + opts.split()
                + ["-Djava.awt.headless=true", "-Dspark.driver.host=127.0.0.1",
                   "-Dlog4j2.configurationFile=" + log4j, "-cp", kernel_cp,
                   "dev.joule.notebooks.JouleKernel", "{connection_file}"])
spec["display_name"] = "Java (Joule)"
env = spec.setdefault("env", {})
env["RJK_CLASSPATH"] = ";".join(e for e in classpath.split(":") if e)
env["RJK_INIT_SCRIPT"] = init
json.dump(spec, open(path, "w"), indent=2)
PY
# The user's kernels folder, as `jupyter kernelspec install --user` would use (that command is
# in another Debian package than jupyter-notebook).
DEST="$(jupyter --data-dir)/kernels/$NAME"
mkdir -p "$DEST"
cp "$SPEC"/* "$DEST"/
echo "install-kernel: kernel '$NAME' (Java (Joule)) installed in $DEST"
echo "install-kernel: open the notebooks with: jupyter notebook $ROOT/notebooks"
