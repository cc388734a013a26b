/**
 * A detector that sees one point at a time, in time order, and scores it using only what came
 * before: the contract of the Numenta Anomaly Benchmark and of the production scoring loop.
 */
export interface StreamingDetector {
  /** Consumes the next point and returns its anomaly score in [0, 1]. */
  step(timestampMs: number, value: number): number;
}

export interface StreamingDetectorContext {
  /** Identifies the series, for logs only: a detector must not tune itself per series. */
  readonly seriesName: string;
  /** Points at the start that are learnt from but not scored (NAB: 15% of the file). */
  readonly probationaryPoints: number;
}

export type StreamingDetectorFactory = (context: StreamingDetectorContext) => StreamingDetector;
