package dev.joule.notebooks;

import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.logging.LogManager;
import java.util.logging.Logger;
import org.rapaio.jupyter.kernel.MainApp;
import org.rapaio.jupyter.kernel.channels.Channels;
import org.rapaio.jupyter.kernel.channels.LoopThread;
import org.rapaio.jupyter.kernel.channels.MessageHandler;
import org.rapaio.jupyter.kernel.core.ConnectionProperties;
import org.rapaio.jupyter.kernel.core.RapaioKernel;
import org.rapaio.jupyter.kernel.core.Transform;
import org.rapaio.jupyter.kernel.message.Message;
import org.rapaio.jupyter.kernel.message.MessageType;

/**
 * Starts rapaio-jupyter-kernel 3.0.1 as its own {@code MainApp} does, without its two start-up
 * races. Either one leaves a kernel that never answers {@code kernel_info_request}, so Jupyter
 * gives up after its start-up timeout ("Kernel didn't respond in 60 seconds").
 *
 * <p><b>1. Handlers set after the sockets are live.</b> {@code Channels.connect} binds the five ZeroMQ sockets, whose poll threads start at once, and
 * only afterwards (after publishing "starting" and linking twelve method references) assigns
 * its {@code handlers} map. The Jupyter client has been sending {@code kernel_info_request} on the
 * shell socket every second since it launched the kernel; ZeroMQ queues those and delivers them
 * the moment the shell socket is bound. When the shell thread reads one before the map is
 * assigned, {@code Channels.getHandler} throws a {@code NullPointerException} that nothing
 * catches: the shell thread dies and the kernel never answers. Here {@code handlers} is set
 * before {@code connect}, to a map whose every handler waits until {@code connect} has returned
 * and then passes the message to the handler {@code connect} registered: a request that arrives
 * early is answered late, not lost. (One that arrives after {@code connect} assigned its new map
 * and before it filled it is still logged as "Unhandled message" and dropped; the client asks
 * again a second later.) {@link StartupRaceCheck} shows this race and the guard deterministically.
 *
 * <p><b>2. Loop threads that may never loop.</b> The shell, control and heartbeat sockets are
 * each served by a {@code LoopThread}, whose {@code start()} calls {@code super.start()} and only
 * then sets {@code running = true}, while its {@code run()} is {@code while (running) ...}. A
 * thread scheduled before its starter gets back reads {@code false} and ends at once, silently: a
 * dead shell thread never reads a message. Here, once {@code connect} has returned, each loop
 * thread is stopped and replaced by one whose {@code running} is set before it starts.
 */
public final class JouleKernel {

  private static final Logger LOG = Logger.getLogger(JouleKernel.class.getSimpleName());

  private JouleKernel() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 1 || args[0].startsWith("-")) {
      // Installer and other modes: the kernel's own entry point.
      MainApp.main(args);
      return;
    }
    RapaioKernel kernel = MainApp.kernel; // its constructor starts JShell and runs the init scripts
    LogManager.getLogManager().readConfiguration(
        MainApp.class.getClassLoader().getResourceAsStream("logging.properties"));
    String contents = Files.readString(Path.of(args[0]), StandardCharsets.UTF_8);
    ConnectionProperties props = Transform.fromJson(contents, ConnectionProperties.class);
    Channels channels = new Channels(props);
    connect(channels, kernel);
    channels.joinUntilClose();
  }

  /** {@code channels.connect(kernel)} without its two start-up races (see the class comment). */
  public static void connect(Channels channels, RapaioKernel kernel) {
    CountDownLatch connected = new CountDownLatch(1);
    boolean guarded = installEarlyHandlers(channels, connected);
    try {
      channels.connect(kernel);
    } finally {
      connected.countDown();
    }
    boolean restarted = restartLoopThreads(channels);
    if (!guarded || !restarted) {
      LOG.warning("start-up guard not installed; the kernel may hang at start (see notebooks/README.md)");
    }
  }

  /** The channels that {@code Channels.connect} gives a {@code LoopThread}. */
  static final List<String> LOOPING_CHANNELS = List.of("shell", "control", "heartbeat");

  /**
   * Replaces the loop thread of each looping channel by one that cannot miss its own start: the
   * old one is stopped (it ends after its current pass, or has ended already) and joined first, so
   * the two never poll the same socket at once. Messages that arrive meanwhile wait in ZeroMQ.
   */
  static boolean restartLoopThreads(Channels channels) {
    try {
      Field body = field(LoopThread.class, "loopBody");
      Field sleep = field(LoopThread.class, "sleep");
      Field running = field(LoopThread.class, "running");
      for (String name : LOOPING_CHANNELS) {
        Object channel = field(Channels.class, name).get(channels);
        Field loopThread = field(channel.getClass(), "loopThread");
        LoopThread old = (LoopThread) loopThread.get(channel);
        old.shutdown();
        old.join();
        LoopThread fresh = new LoopThread(old.getName(), sleep.getLong(old), (Runnable) body.get(old));
        running.setBoolean(fresh, true);
        loopThread.set(channel, fresh);
        fresh.start();
      }
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } catch (ReflectiveOperationException | RuntimeException e) {
      LOG.warning("cannot restart the kernel's loop threads (" + e + ")");
      return false;
    }
  }

  static Field field(Class<?> type, String name) throws NoSuchFieldException {
    Field f = type.getDeclaredField(name);
    f.setAccessible(true);
    return f;
  }

  @SuppressWarnings({"rawtypes", "unchecked"})
  static boolean installEarlyHandlers(Channels channels, CountDownLatch connected) {
    Map<MessageType<?>, MessageHandler> early = new HashMap<>() {
      @Override
      public MessageHandler get(Object type) {
        return new WaitingHandler(channels, (MessageType) type, connected);
      }
    };
    try {
      Field f = field(Channels.class, "handlers");
      if (f.get(channels) != null) {
        return true; // already connected: nothing to guard
      }
      f.set(channels, early);
      return true;
    } catch (ReflectiveOperationException | RuntimeException e) {
      LOG.warning("cannot set Channels.handlers (" + e + ")");
      return false;
    }
  }

  /** Waits for {@code connect} to finish, then hands the message to the handler it registered. */
  @SuppressWarnings({"rawtypes", "unchecked"})
  record WaitingHandler(Channels channels, MessageType type, CountDownLatch connected)
      implements MessageHandler {
    @Override
    public void handle(Message message) {
      try {
        connected.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      MessageHandler real = channels.getHandler(type);
      if (real == null || real instanceof WaitingHandler) {
        LOG.severe("Unhandled message: " + type.name());
        return;
      }
      real.handle(message);
    }
  }
}
