#!/usr/bin/env bash
# The GPU node's benchmark (issue 22), in two halves, because the GPU machine has no Java and is
# reached only through the `device` tool (64 MiB carried per call):
#
#   bench/run-gpu.sh prepare   here: builds, makes a small Java runtime with jlink, and packs it
#                              with the bridge's jars and the bench jar into
#                              bench/target/gpu-carry.tar.gz (about 48 MB, with the GPU tests);
#   bench/run-gpu.sh device    on the GPU machine, from the repository root, with that file
#                              carried: unpacks it, runs the GPU tests, writes the rows, runs the PyTorch peer
#                              (bench/gpu/torch_peer.py) and Joule's GpuBench on the same rows,
#                              and prints the table (also in $OUT/gpu-bench.md when $OUT is set).
#
# Options of `device`: --rows N (default 1,000,000) --seconds S (3); JOULE_CUDA_LIB_DIR names
# NVRTC's folders (separated by ':') when they are not found by themselves. Not part of CI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CARRY=bench/target/gpu-carry.tar.gz
MODULES=java.base,jdk.incubator.vector,java.logging,java.management,jdk.unsupported,java.naming,java.sql,jdk.crypto.ec,java.net.http,jdk.management
FLAGS=(--add-modules=jdk.incubator.vector --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED
  -Dio.netty.tryReflectionSetAccessible=true --enable-native-access=ALL-UNNAMED)

prepare() {
  mvn -B -q -Dstyle.color=never -DskipTests -pl bench -am package
  local stage=bench/target/gpu-carry
  rm -rf "$stage" "$CARRY"
  mkdir -p "$stage/lib"
  local jlink
  jlink="$(dirname "$(readlink -f "$(command -v java)")")/jlink"
  "$jlink" --add-modules "$MODULES" --strip-debug --no-header-files --no-man-pages --compress=2 --output "$stage/jre"
  cp accelerator-bridge/target/accelerator-bridge-*[0-9T].jar "$stage/lib/"
  cp bench/target/bench-*.jar "$stage/lib/"
  # The bridge's runtime jars, less netty's native TLS for other platforms, and with slf4j's
  # simple logger for log4j (whose core needs java.desktop, 10 MB more of runtime).
  tr ':' '\n' < accelerator-bridge/target/launcher/classpath.txt | grep -v -E 'osx|windows|aarch_64|log4j' \
    | while read -r jar; do cp "$jar" "$stage/lib/"; done
  local slf4j
  slf4j="$(basename "$(ls "$stage"/lib/slf4j-api-*.jar)" .jar)"
  mvn -B -q -Dstyle.color=never dependency:copy -Dartifact="org.slf4j:slf4j-simple:${slf4j#slf4j-api-}" \
    -DoutputDirectory="$stage/lib"
  # The GPU tests (CudaBackendGpuIT, HeadDotsProgramTest) and JUnit's console launcher to run them there.
  mkdir -p "$stage/test"
  cp accelerator-bridge/target/accelerator-bridge-*-tests.jar "$stage/test/"
  local junit
  junit="$(sed -n 's:.*<junit.version>\(.*\)</junit.version>.*:\1:p' pom.xml)"
  mvn -B -q -Dstyle.color=never dependency:copy \
    -Dartifact="org.junit.platform:junit-platform-console-standalone:1.${junit#5.}" -DoutputDirectory="$stage/test"
  tar -C "$stage" -czf "$CARRY" .
  echo "packed $(du -h "$CARRY" | cut -f1) into $CARRY (carry it to the device: the tool's limit is 64 MiB)"
}

find_nvrtc() {
  # Every folder holding an NVRTC, the toolkit's first: the backend takes the newest the driver can load.
  if [[ -n "${JOULE_CUDA_LIB_DIR:-}" ]]; then echo "$JOULE_CUDA_LIB_DIR"; return; fi
  (ls /usr/local/cuda/lib64/libnvrtc.so.* 2>/dev/null; \
    python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null \
      | xargs -r -I{} find {} -name 'libnvrtc.so.*' 2>/dev/null; \
    find /usr /opt /root /home -name 'libnvrtc.so.1[0-9]*' 2>/dev/null) | grep -v builtins \
    | xargs -r -n1 dirname | awk '!seen[$0]++' | paste -sd: -
}

device() {
  local rows=1000000 seconds=3
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --rows) rows="$2"; shift 2 ;;
      --seconds) seconds="$2"; shift 2 ;;
      *) echo "unknown option $1" >&2; exit 2 ;;
    esac
  done
  local work=/tmp/joule-gpu out="${OUT:-/tmp/joule-gpu/out}"
  rm -rf "$work" && mkdir -p "$work" "$out"
  tar -C "$work" -xzf "$CARRY"
  local nvrtc
  nvrtc="$(find_nvrtc || true)"
  echo "NVRTC: ${nvrtc:-not found}; $(nvidia-smi --query-gpu=name,driver_version,power.draw --format=csv,noheader 2>&1 | head -1)"
  export JOULE_CUDA_LIB_DIR="$nvrtc"
  export CUDA_DEVICE_ORDER=PCI_BUS_ID  # torch's device 0 is the bench's GPU 0
  local java=("$work/jre/bin/java" "${FLAGS[@]}" -Xmx24g -cp "$work/lib/*")
  # The GPU tests first: the backend against the CPU kernel, concurrent callers, a Flight node.
  "$work/jre/bin/java" "${FLAGS[@]}" -Xmx8g -jar "$(ls "$work"/test/junit-platform-console-standalone-*.jar)" \
    execute --class-path "$(ls "$work"/test/accelerator-bridge-*-tests.jar):$(ls "$work"/lib/*.jar | tr '\n' ':')" \
    --select-class dev.joule.bridge.gpu.CudaBackendGpuIT --select-class dev.joule.bridge.gpu.HeadDotsProgramTest \
    --details tree --disable-ansi-colors --reports-dir "$out/junit" || echo "the GPU tests failed (above); the bench follows"
  "${java[@]}" dev.joule.bench.GpuBench --write-rows "$work/rows.bin" --rows "$rows"
  python3 bench/gpu/torch_peer.py "$work/rows.bin" --rows "$rows" --dim 768 --classes 10 --seconds "$seconds" \
    > "$out/torch.json" || echo "the PyTorch peer failed; Joule's figures follow alone"
  "${java[@]}" dev.joule.bench.GpuBench --rows "$rows" --seconds "$seconds" --peer "$out/torch.json" \
    --out "$out/gpu-bench.md"
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  device) shift; device "$@" ;;
  *) echo "usage: bench/run-gpu.sh prepare | device [--rows N] [--seconds S]" >&2; exit 2 ;;
esac
