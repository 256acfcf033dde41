package dev.joule.jobs.score;

/** A running progress display. Closing throws nothing, so Spark's exceptions pass through unchanged. */
interface Progress extends AutoCloseable {
  @Override
  void close();
}
