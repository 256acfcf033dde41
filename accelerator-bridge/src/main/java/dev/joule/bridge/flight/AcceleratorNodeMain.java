package dev.joule.bridge.flight;

import dev.joule.bridge.energy.meter.EnergyLedger;
import dev.joule.bridge.energy.meter.IdlePower;
import dev.joule.bridge.energy.meter.NvmlMeter;
import dev.joule.bridge.gpu.CudaBackend;
import dev.joule.bridge.gpu.CudaLibraries;
import dev.joule.bridge.kernel.KernelLimits;
import dev.joule.bridge.node.NodeMeter;
import dev.joule.bridge.node.ScoringBackend;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code joule accel-node}: a standalone accelerator node. It runs from the accelerator-bridge
 * module alone (no Spark on its classpath) until it is stopped (SIGTERM / Ctrl-C).
 */
@Command(name = "accel-node", mixinStandardHelpOptions = true,
    description = "Start an accelerator node: scores batches for Joule jobs over Arrow Flight.")
public final class AcceleratorNodeMain implements Callable<Integer> {

  @Option(names = "--host", defaultValue = "127.0.0.1",
      description = "Address to bind; another than loopback needs --token-file.")
  String host;

  @Option(names = "--port", defaultValue = "8815", description = "Port; 0 = any free.")
  int port;

  @Option(names = "--tls-cert", description = "PEM certificate chain: the node speaks TLS.")
  File tlsCert;

  @Option(names = "--tls-key", description = "PEM private key (PKCS#8) of --tls-cert.")
  File tlsKey;

  @Option(names = "--token-file", description = "File holding the bearer token every client must send.")
  File tokenFile;

  @Option(names = "--max-batch-bytes", defaultValue = "64MiB",
      description = "Largest request batch accepted.")
  String maxBatchBytes;

  @Option(names = "--max-kernel-bytes", defaultValue = "auto",
      description = "Largest kernel accepted; auto = an eighth of the heap (-Xmx): a push is held "
          + "and decoded in the heap, about three copies at its peak.")
  String maxKernelBytes;

  @Option(names = "--kernel-cache-bytes", defaultValue = "auto",
      description = "Kernels kept, least recently used out first; auto = half the heap.")
  String kernelCacheBytes;

  @Option(names = "--node-id", description = "Id recorded in energy rows (default accel@host:port).")
  String nodeId;

  @Option(names = "--summary-seconds", defaultValue = "60",
      description = "Seconds between summary log lines; 0 = none.")
  int summarySeconds;

  /** Where the node runs its kernels. */
  enum BackendChoice { auto, cpu, gpu }

  @Option(names = "--backend", defaultValue = "auto",
      description = "Where kernels run: gpu (an NVIDIA GPU through the CUDA driver and NVRTC; refused with the reason "
          + "where it cannot open), cpu (this machine's CPU), auto (the GPU where it opens, else the CPU). On a GPU, "
          + "kernels it has no implementation for run on the CPU, logged once. Valid: ${COMPLETION-CANDIDATES}.")
  BackendChoice backend;

  @Option(names = "--gpu", defaultValue = "0", description = "Which GPU (CUDA device ordinal).")
  int gpu;

  @Option(names = "--cuda-lib-dir", description = "Folders holding NVRTC (libnvrtc.so.13 or .12), separated by ':', "
      + "looked in before /usr/local/cuda/lib64 and the linker's path.")
  String cudaLibDir;

  @Option(names = "--gpu-streams", defaultValue = "4",
      description = "Batches on the GPU at once, each on its own stream with its own page-locked buffers.")
  int gpuStreams;

  /** Which measured counter the node reads around each batch. */
  enum EnergyMeterChoice { auto, nvml, none }

  @Option(names = "--energy-meter", defaultValue = "auto",
      description = "Counter read around each batch the GPU scores: nvml (the node's GPU's total energy, found by "
          + "its PCI bus id; refused with the reason where there is no GPU backend or NVML cannot read it), none "
          + "(the node's CPU time as an estimate only), auto (nvml where it can be read, else none). "
          + "Valid: ${COMPLETION-CANDIDATES}.")
  EnergyMeterChoice energyMeter;

  @Option(names = "--idle-seconds", defaultValue = "3",
      description = "Seconds the node measures its device idle at start-up, before serving, so that its "
          + "records carry the idle draw apart (gpu_idle) from the energy above it (gpu); 0 = not apart.")
  double idleSeconds;

  @Override
  public Integer call() throws Exception {
    String token = tokenFile == null ? null : readToken(tokenFile);
    if (token == null && !(host.equals("127.0.0.1") || host.equals("localhost") || host.equals("::1"))) {
      System.err.println("joule accel-node: binding to " + host + " without --token-file would let anyone who"
          + " reaches the port use the node; give a token file");
      return 2;
    }
    long heap = Runtime.getRuntime().maxMemory();
    long kernelBytes = bytes("--max-kernel-bytes", maxKernelBytes, heap / 8);
    long cacheBytes = bytes("--kernel-cache-bytes", kernelCacheBytes, heap / 2);
    AcceleratorNodeServer.Options o = new AcceleratorNodeServer.Options(host, port, nodeId, tlsCert, tlsKey, token,
        bytes("--max-batch-bytes", maxBatchBytes, -1), KernelLimits.DEFAULT.withMaxKernelBytes(kernelBytes),
        cacheBytes, summarySeconds, null, -1, null, null);
    ScoringBackend scoring = openBackend();
    NodeMeter meter = openMeter(scoring);
    AcceleratorNodeServer node = AcceleratorNodeServer.start(o.withMeter(meter).withBackend(scoring));
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        node.close();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "joule-node-shutdown"));
    System.out.println("joule accel-node: " + node.nodeId() + " serving on " + node.address()
        + (tlsCert != null ? " (TLS)" : "") + (token != null ? " (token required)" : ""));
    node.awaitTermination();
    return 0;
  }

  /**
   * The GPU backend {@code --backend} asks for, or null for the CPU alone.
   *
   * @throws CommandLine.ParameterException where {@code gpu} was asked for and cannot open
   */
  ScoringBackend openBackend() {
    if (gpuStreams < 1) {
      throw new CommandLine.ParameterException(commandLine(), "--gpu-streams must be at least 1, got " + gpuStreams);
    }
    if (backend == BackendChoice.cpu) {
      return null;
    }
    CudaBackend.Opening opening = CudaBackend.open(new CudaBackend.Settings(gpu,
        CudaLibraries.fromPathList(cudaLibDir), gpuStreams),
        VectorOpsProvider.get());
    if (opening.backend() == null) {
      if (backend == BackendChoice.gpu) {
        throw new CommandLine.ParameterException(commandLine(), "--backend gpu: " + opening.refusal());
      }
      System.err.println("joule accel-node: no GPU backend (" + opening.refusal() + "); kernels run on the CPU");
      return null;
    }
    System.err.println("joule accel-node: kernels run on " + opening.backend().name());
    return opening.backend();
  }

  /**
   * The counter {@code --energy-meter} names for the GPU the backend scores on, with its idle draw
   * measured now (nothing is served yet); null for estimates only. NVML counts the board of that
   * GPU alone: batches the node scores on its CPU carry no share of it.
   *
   * @throws CommandLine.ParameterException where {@code nvml} was asked for and cannot be read
   */
  NodeMeter openMeter(ScoringBackend scoring) throws InterruptedException {
    if (energyMeter == EnergyMeterChoice.none) {
      return null;
    }
    if (!(idleSeconds >= 0) || idleSeconds > 600) {
      throw new CommandLine.ParameterException(commandLine(), "--idle-seconds must be between 0 and 600, got " + idleSeconds);
    }
    if (!(scoring instanceof CudaBackend gpuBackend)) {
      if (energyMeter == EnergyMeterChoice.nvml) {
        throw new CommandLine.ParameterException(commandLine(), "--energy-meter nvml measures the node's GPU, and "
            + "there is no GPU backend");
      }
      System.err.println("joule accel-node: kernels run on the CPU: energy is estimated from CPU time");
      return null;
    }
    NvmlMeter nvml = NvmlMeter.open(gpuBackend.pciBusId());
    if (!nvml.available()) {
      if (energyMeter == EnergyMeterChoice.nvml) {
        throw new CommandLine.ParameterException(commandLine(), "--energy-meter nvml: " + nvml.describe());
      }
      System.err.println("joule accel-node: no measured counter (" + nvml.describe() + "); energy is estimated from CPU time");
      return null;
    }
    IdlePower idle = IdlePower.NONE;
    if (idleSeconds > 0) {
      System.err.println("joule accel-node: measuring idle power for " + idleSeconds + " s (" + nvml.describe() + ")");
      idle = IdlePower.measure(nvml, (long) (idleSeconds * 1e9), System::nanoTime, n -> Thread.sleep(n / 1_000_000));
      System.err.println("joule accel-node: idle " + idle.describe());
    }
    return new NodeMeter(nvml, idle, EnergyLedger.CpuClock.jvm());
  }

  /** A size like 64MiB; {@code auto} is {@code auto} (an error where it is negative). */
  static long bytes(String option, String value, long auto) {
    if (value.equals("auto") && auto > 0) {
      return auto;
    }
    try {
      return com.typesafe.config.ConfigFactory.parseString("v = \"" + value.replace("\"", "") + "\"").getBytes("v");
    } catch (RuntimeException e) {
      throw new CommandLine.ParameterException(new CommandLine(new AcceleratorNodeMain()),
          option + " must be a size like 64MiB or 1048576, got '" + value + "'");
    }
  }

  /** The token, trimmed; warns when others may read the file. Never prints the token. */
  static String readToken(File f) throws IOException {
    String t = Files.readString(f.toPath(), StandardCharsets.UTF_8).trim();
    if (t.isEmpty()) {
      throw new IOException("token file " + f + " is empty");
    }
    try {
      Set<PosixFilePermission> perms = Files.getPosixFilePermissions(f.toPath());
      if (perms.contains(PosixFilePermission.OTHERS_READ) || perms.contains(PosixFilePermission.GROUP_READ)) {
        System.err.println("joule accel-node: warning: token file " + f + " is readable by group or others (chmod 600 it)");
      }
    } catch (UnsupportedOperationException | IOException ignored) {
      // not a POSIX file system
    }
    return t;
  }

  /** The command line as {@code bin/joule accel-node} runs it: named as users type it. */
  public static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new AcceleratorNodeMain()).setCommandName("joule accel-node");
    cli.getCommandSpec().usageMessage().showDefaultValues(true);
    return cli;
  }

  public static void main(String[] args) {
    // bin/joule runs this class directly (no Spark on the classpath).
    CommandLine cli = commandLine();
    cli.setExecutionExceptionHandler((ex, cmd, parsed) -> {
      cmd.getErr().println("joule accel-node: " + (ex.getMessage() == null ? ex.toString() : ex.getMessage()));
      return 1;
    });
    System.exit(cli.execute(args));
  }
}
