/**
 * Maps a model's raw score to a probability-like score in [0, 1]: the fraction of validation
 * scores it exceeds, with an exponential tail fitted above a high quantile (peaks over threshold)
 * so that scores beyond anything seen in validation still rank instead of all saturating at 1.
 */
export interface Calibration {
  readonly kind: 'empirical-cdf-exponential-tail';
  /** Raw score at quantiles 0, 1/(k-1), ..., 1 of the validation scores. */
  readonly quantiles: number[];
  /** Quantile level where the exponential tail takes over. */
  readonly tailLevel: number;
  readonly tailStart: number;
  /** Mean excess above `tailStart`: the exponential tail's scale. */
  readonly tailScale: number;
}

export interface CalibrationOptions {
  /** Quantiles kept. @default 201 */
  points?: number;
  /** Where the exponential tail starts. @default 0.98 */
  tailLevel?: number;
}

export function fitCalibration(rawScores: ArrayLike<number>, options: CalibrationOptions = {}): Calibration {
  const points = options.points ?? 201;
  const tailLevel = options.tailLevel ?? 0.98;
  if (!Number.isInteger(points) || points < 2) {
    throw new RangeError(`'points' (${points}) must be an integer of at least 2`);
  }
  if (!(tailLevel > 0 && tailLevel < 1)) {
    throw new RangeError(`'tailLevel' (${tailLevel}) must be strictly between 0 and 1`);
  }
  if (rawScores.length < 10) {
    throw new RangeError(`calibration needs at least 10 validation scores, got ${rawScores.length}`);
  }
  const sorted = Float64Array.from(rawScores).sort();
  const quantiles: number[] = [];
  for (let k = 0; k < points; k++) quantiles.push(quantileSorted(sorted, k / (points - 1)));

  const tailStart = quantileSorted(sorted, tailLevel);
  let excess = 0;
  let count = 0;
  for (let i = sorted.length - 1; i >= 0 && sorted[i]! > tailStart; i--) {
    excess += sorted[i]! - tailStart;
    count++;
  }
  const spread = quantileSorted(sorted, 0.75) - quantileSorted(sorted, 0.25);
  const tailScale = count > 0 ? Math.max(excess / count, 1e-9) : Math.max(spread, 1e-9);
  return { kind: 'empirical-cdf-exponential-tail', quantiles, tailLevel, tailStart, tailScale };
}

export function calibrate(calibration: Calibration, raw: number): number {
  if (raw > calibration.tailStart) {
    const tail =
      (1 - calibration.tailLevel) * Math.exp(-(raw - calibration.tailStart) / calibration.tailScale);
    return 1 - tail;
  }
  const q = calibration.quantiles;
  if (raw <= q[0]!) return 0;
  // Binary search for the bracketing quantiles, then interpolate linearly.
  let lo = 0;
  let hi = q.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (q[mid]! <= raw) lo = mid;
    else hi = mid;
  }
  const span = q[hi]! - q[lo]!;
  const frac = span > 0 ? (raw - q[lo]!) / span : 0;
  const level = (lo + frac) / (q.length - 1);
  return Math.min(level, calibration.tailLevel);
}

export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

/** The calibrated score above which a point is flagged so that `anomalyRate` of normal points would be. */
export function thresholdForRate(anomalyRate: number): number {
  if (!(anomalyRate > 0 && anomalyRate < 1)) {
    throw new RangeError(`'targetAnomalyRate' (${anomalyRate}) must be strictly between 0 and 1`);
  }
  return 1 - anomalyRate;
}
