package dev.joule.jobs.report;

/** A quantized kernel's answers against the fp32 ones on the same rows. */
public record Quality(String baselineKernel, String candidateKernel, long rowsCompared,
    double top1Agreement, double maxAbsProbError, double meanAbsProbError) {}
