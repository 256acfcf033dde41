package dev.joule.notebooks;

import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.rapaio.jupyter.kernel.MainApp;
import org.rapaio.jupyter.kernel.channels.Channels;
import org.rapaio.jupyter.kernel.channels.LoopThread;
import org.rapaio.jupyter.kernel.core.ConnectionProperties;
import org.rapaio.jupyter.kernel.core.RapaioKernel;
import org.rapaio.jupyter.kernel.message.HMACDigest;
import org.rapaio.org.zeromq.SocketType;
import org.rapaio.org.zeromq.ZMQ;

/**
 * Shows rapaio-jupyter-kernel's start-up race deterministically, and that {@link JouleKernel}
 * closes it. Run: {@code java -cp <classes>:<rapaio jar> dev.joule.notebooks.StartupRaceCheck
 * [--unguarded]}.
 *
 * <p>A client connects to the shell port and sends {@code kernel_info_request} before the kernel
 * binds, as Jupyter does. While {@code Channels.connect} runs, this check holds the IOPub
 * channel's monitor, so {@code connect} stops at its first {@code iopub.sendMessage}: after every
 * socket is bound and its poll thread started, before the handler map is assigned. That is the
 * window a slow (loaded) start-up leaves open by chance. The queued request reaches the shell
 * thread inside it.
 *
 * <ul>
 *   <li>{@code --unguarded} ({@code channels.connect}, as the kernel's own MainApp does): the shell
 *       thread dies of a NullPointerException in {@code Channels.getHandler} and the request is never
 *       answered. Exit 0 when that happens (the race is there), 1 when it does not, 3 when the
 *       shell thread ended before reading anything (the second race; run again).
 *   <li>default ({@link JouleKernel#connect}): the shell thread waits, then answers with
 *       {@code kernel_info_reply}, and the shell, control and heartbeat loop threads run. Exit 0
 *       when so, 1 otherwise.
 *   <li>{@code --loop-threads N}: the second race, which cannot be forced: starts N of the
 *       kernel's {@code LoopThread}s and counts those that end before their first pass.
 * </ul>
 */
public final class StartupRaceCheck {

  public static void main(String[] args) throws Exception {
    if (args.length == 2 && args[0].equals("--loop-threads")) {
      loopThreads(Integer.parseInt(args[1]));
      return;
    }
    boolean guarded = !(args.length > 0 && args[0].equals("--unguarded"));
    Map<Thread, Throwable> died = new ConcurrentHashMap<>();
    Thread.setDefaultUncaughtExceptionHandler((t, e) -> {
      died.put(t, e);
      System.err.print("Exception in thread \"" + t.getName() + "\" ");
      e.printStackTrace();
    });
    int[] ports = freePorts(5);
    String key = UUID.randomUUID().toString();
    ConnectionProperties props = new ConnectionProperties(ports[0], ports[1], "tcp", "hmac-sha256",
        ports[2], ports[3], "127.0.0.1", ports[4], key);
    RapaioKernel kernel = MainApp.kernel;
    Channels channels = new Channels(props);

    // The client, as Jupyter's: connected, and a request queued, before the kernel binds.
    ZMQ.Context ctx = ZMQ.context(1);
    ZMQ.Socket shell = ctx.socket(SocketType.DEALER);
    shell.setReceiveTimeOut(15_000);
    shell.connect(props.formatAddress(props.shellPort()));
    sendKernelInfoRequest(shell, new HMACDigest("hmac-sha256", key));

    Object iopub = JouleKernel.field(Channels.class, "iopub").get(channels);
    Thread connect = new Thread(() -> {
      if (guarded) {
        JouleKernel.connect(channels, kernel);
      } else {
        channels.connect(kernel);
      }
    }, "connect");
    Thread loop;
    synchronized (iopub) {
      connect.start();
      long until = System.nanoTime() + 30_000_000_000L;
      while (connect.getState() != Thread.State.BLOCKED && System.nanoTime() < until) {
        Thread.sleep(10);
      }
      if (connect.getState() != Thread.State.BLOCKED) {
        System.out.println("race-check: connect never reached iopub.sendMessage; cannot check");
        Runtime.getRuntime().halt(2);
      }
      // connect is now inside the window. Let ZeroMQ reconnect (100 ms) and deliver the queued
      // request, and the shell thread (50 ms poll) read it.
      Thread.sleep(2_000);
      loop = shellLoopThread(channels);
    }
    boolean npe = !loop.isAlive() && died.get(loop) instanceof NullPointerException;
    boolean neverLooped = !loop.isAlive() && died.get(loop) == null;
    connect.join();
    byte[] header = receiveReplyHeader(shell);
    boolean answered = header != null
        && new String(header, StandardCharsets.UTF_8).contains("\"kernel_info_reply\"");
    boolean loopsAlive = true;
    for (String name : JouleKernel.LOOPING_CHANNELS) {
      Object channel = JouleKernel.field(Channels.class, name).get(channels);
      loopsAlive &= ((Thread) JouleKernel.field(channel.getClass(), "loopThread").get(channel)).isAlive();
    }
    System.out.println("race-check: " + (guarded ? "guarded (JouleKernel.connect)" : "unguarded (Channels.connect)")
        + ": shell thread died of a NullPointerException on an early request: " + npe
        + "; kernel_info_reply received: " + answered + "; shell, control and heartbeat loops alive: " + loopsAlive);
    int rc;
    if (guarded) {
      rc = !npe && answered && loopsAlive ? 0 : 1;
    } else if (neverLooped) {
      System.out.println("race-check: inconclusive: the shell loop thread ended before its first pass "
          + "(the LoopThread race, not this one); run again");
      rc = 3;
    } else {
      rc = npe && !answered ? 0 : 1;
      if (rc != 0) {
        System.out.println("race-check: the kernel's own start answered an early request: this kernel "
            + "version may not have the start-up race any more; see notebooks/README.md");
      }
    }
    System.out.flush();
    Runtime.getRuntime().halt(rc); // skip the kernel's threads and shutdown hooks
  }

  static Thread shellLoopThread(Channels channels) throws ReflectiveOperationException {
    Object channel = JouleKernel.field(Channels.class, "shell").get(channels);
    return (Thread) JouleKernel.field(channel.getClass(), "loopThread").get(channel);
  }

  /**
   * The second race, by chance: starts {@code n} of the kernel's {@code LoopThread}s one after
   * another and counts those that ended without running their loop once.
   */
  static void loopThreads(int n) throws InterruptedException {
    int lost = 0;
    for (int i = 0; i < n; i++) {
      AtomicBoolean ran = new AtomicBoolean();
      LoopThread t = new LoopThread("loop-" + i, 50, () -> ran.set(true));
      t.start();
      t.join(200);
      if (!t.isAlive() && !ran.get()) {
        lost++;
      }
      t.shutdown();
      t.join();
    }
    System.out.println("race-check: " + lost + " of " + n + " LoopThreads ended before their first pass");
  }

  static void sendKernelInfoRequest(ZMQ.Socket socket, HMACDigest hmac) {
    String session = UUID.randomUUID().toString();
    byte[] header = ("{\"msg_id\":\"" + UUID.randomUUID() + "\",\"username\":\"race-check\",\"session\":\""
        + session + "\",\"date\":\"" + Instant.now() + "\",\"msg_type\":\"kernel_info_request\","
        + "\"version\":\"5.3\"}").getBytes(StandardCharsets.UTF_8);
    byte[] empty = "{}".getBytes(StandardCharsets.UTF_8);
    String sig = hmac.computeSignature(header, empty, empty, empty);
    socket.sendMore("<IDS|MSG>");
    socket.sendMore(sig);
    socket.sendMore(header);
    socket.sendMore(empty);
    socket.sendMore(empty);
    socket.send(empty);
  }

  /** The header frame of the next message, or null when none comes within the receive timeout. */
  static byte[] receiveReplyHeader(ZMQ.Socket socket) {
    byte[] frame;
    do {
      frame = socket.recv();
      if (frame == null) {
        return null;
      }
    } while (!new String(frame, StandardCharsets.US_ASCII).equals("<IDS|MSG>"));
    socket.recv(); // signature
    byte[] header = socket.recv();
    while (socket.hasReceiveMore()) {
      socket.recv();
    }
    return header;
  }

  static int[] freePorts(int n) throws Exception {
    int[] ports = new int[n];
    ServerSocket[] sockets = new ServerSocket[n];
    for (int i = 0; i < n; i++) {
      sockets[i] = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
      ports[i] = sockets[i].getLocalPort();
    }
    for (ServerSocket s : sockets) {
      s.close();
    }
    return ports;
  }
}
