/**
 * Joule model files (JSON, {@code joule-model/1}): full-precision parameters of a linear head, a
 * two-layer MLP or K centroids, and the kernel each becomes at a precision. Here rather than in
 * the jobs so that Spark SQL functions and nodes can read them without the jobs module.
 */
package dev.joule.bridge.model;
