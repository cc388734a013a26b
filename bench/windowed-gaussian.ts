import type { StreamingDetector, StreamingDetectorFactory } from '../ml/streaming.js';

/**
 * A port of NAB's `windowedGaussian` baseline (`nab/detectors/gaussian/windowedGaussian_detector.py`):
 * the score of a value is one minus its two-sided Gaussian tail probability under the mean and
 * population standard deviation of a sliding window of past values. The window grows to 6,400
 * values, then slides 100 values at a time; NAB tuned both on its corpus.
 */
export interface WindowedGaussianOptions {
  /** @default 6400 values */
  readonly windowSize?: number;
  /** @default 100 values */
  readonly stepSize?: number;
}

export function createWindowedGaussian(options: WindowedGaussianOptions = {}): StreamingDetector {
  const windowSize = options.windowSize ?? 6400;
  const stepSize = options.stepSize ?? 100;
  let window: number[] = [];
  let buffer: number[] = [];
  let mean = 0;
  let std = 1;

  const update = (): void => {
    // Two passes, as numpy.mean and numpy.std (ddof 0) compute them.
    let sum = 0;
    for (const v of window) sum += v;
    mean = sum / window.length;
    let squares = 0;
    for (const v of window) squares += (v - mean) * (v - mean);
    std = Math.sqrt(squares / window.length);
    if (std === 0) std = 0.000001;
  };

  return {
    step(_timestampMs: number, value: number): number {
      const score = window.length > 0 ? 1 - normalTailProbability(value, mean, std) : 0;
      if (window.length < windowSize) {
        window.push(value);
        update();
      } else {
        buffer.push(value);
        if (buffer.length === stepSize) {
          window = window.slice(stepSize).concat(buffer);
          buffer = [];
          update();
        }
      }
      return score;
    },
  };
}

export const windowedGaussianFactory: StreamingDetectorFactory = () => createWindowedGaussian();

/** The probability of a sample at least as far from the mean as `x`, on the same side (Q-function). */
export function normalTailProbability(x: number, mean: number, std: number): number {
  const z = Math.abs(x - mean) / std;
  return 0.5 * erfc(z / Math.SQRT2);
}

/**
 * The complementary error function for x >= 0, to about 1e-14 relative: a positive-term series
 * for erf below 2.5 (no cancellation), a continued fraction above.
 */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) {
    // erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))
    let term = x;
    let sum = x;
    for (let n = 1; n < 200 && term > sum * 1e-17; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated backwards.
  let f = x;
  for (let k = 60; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}
