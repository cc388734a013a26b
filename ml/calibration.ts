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
  /** Mean excess above `tailStart`, at least `resolution`: the exponential tail's scale. */
  readonly tailScale: number;
  /** Raw scores are floored to a multiple of this before they are ranked; absent or 0: none. */
  readonly resolution?: number;
}

export interface CalibrationOptions {
  /** Quantiles kept. @default 201 */
  points?: number;
  /** Where the exponential tail starts. @default 0.98 */
  tailLevel?: number;
  /**
   * Raw scores closer than this are one score. On a flat metric a forecaster's residuals, in
   * band widths, drift by rounding noise far below a twentieth of a band; ranked as they are, the
   * slightly larger noise of later points would land beyond every validation score and alarm on
   * every point. @default 0
   */
  resolution?: number;
}

export function fitCalibration(rawScores: ArrayLike<number>, options: CalibrationOptions = {}): Calibration {
  const points = options.points ?? 201;
  const tailLevel = options.tailLevel ?? 0.98;
  const resolution = options.resolution ?? 0;
  if (!Number.isInteger(points) || points < 2) {
    throw new RangeError(`'points' (${points}) must be an integer of at least 2`);
  }
  if (!(tailLevel > 0 && tailLevel < 1)) {
    throw new RangeError(`'tailLevel' (${tailLevel}) must be strictly between 0 and 1`);
  }
  if (!(resolution >= 0)) throw new RangeError(`'resolution' (${resolution}) must be ≥ 0`);
  if (rawScores.length < 10) {
    throw new RangeError(`calibration needs at least 10 validation scores, got ${rawScores.length}`);
  }
  const sorted = Float64Array.from(rawScores, (r) => quantize(r, resolution)).sort();
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
  const tailScale = Math.max(count > 0 ? excess / count : spread, resolution, 1e-9);
  return {
    kind: 'empirical-cdf-exponential-tail',
    quantiles,
    tailLevel,
    tailStart,
    tailScale,
    ...(resolution > 0 ? { resolution } : {}),
  };
}

/** `raw` floored to a multiple of `resolution` (unchanged when it is 0). */
function quantize(raw: number, resolution: number): number {
  return resolution > 0 ? Math.floor(raw / resolution) * resolution : raw;
}

export function calibrate(calibration: Calibration, score: number): number {
  const raw = quantize(score, calibration.resolution ?? 0);
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

/** Options of {@link AnomalyLikelihood}. */
export interface AnomalyLikelihoodOptions {
  /** Recent raw scores averaged into the short-term score. @default 5 */
  shortPoints?: number;
  /** Raw scores kept for the long-term distribution. @default 2000 */
  historyPoints?: number;
  /** Scores needed before any likelihood is reported; until then the tail probability is 1. @default 50 */
  minHistoryPoints?: number;
  /**
   * Floor on the long-term spread, in raw-score units: a model that was never surprised (a
   * flat line) must still see a real surprise, not rounding noise. @default 0.05
   */
  minStd?: number;
}

/**
 * Numenta's anomaly likelihood, streaming: the Gaussian tail probability of the short-term mean
 * of a model's raw scores under the distribution of its long-term short-term means. A model that
 * is often surprised (a noisy series) needs a larger surprise to matter, and one stray raw score
 * is damped by the short-term mean, so calibrated scores from different models are comparable.
 * The score is compared before it joins the history, so a point is judged only against the past.
 */
export class AnomalyLikelihood {
  private readonly shortPoints: number;
  private readonly historyPoints: number;
  private readonly minHistoryPoints: number;
  private readonly minStd: number;
  private readonly recent: number[] = [];
  private recentSum = 0;
  private readonly history: Float64Array;
  private historyCount = 0;
  private historyNext = 0;
  private sum = 0;
  private sumSq = 0;

  constructor(options: AnomalyLikelihoodOptions = {}) {
    this.shortPoints = options.shortPoints ?? 5;
    this.historyPoints = options.historyPoints ?? 2000;
    this.minHistoryPoints = options.minHistoryPoints ?? 50;
    this.minStd = options.minStd ?? 0.05;
    this.history = new Float64Array(this.historyPoints);
  }

  /** The upper tail probability of the current short-term mean, in (0, 1]; smaller is more anomalous. */
  update(raw: number): number {
    this.recent.push(raw);
    this.recentSum += raw;
    if (this.recent.length > this.shortPoints) this.recentSum -= this.recent.shift()!;
    const shortMean = this.recentSum / this.recent.length;

    let tail = 1;
    if (this.historyCount >= this.minHistoryPoints) {
      const mean = this.sum / this.historyCount;
      const variance = Math.max(0, this.sumSq / this.historyCount - mean * mean);
      const std = Math.max(Math.sqrt(variance), this.minStd, 1e-12);
      tail = gaussianUpperTail((shortMean - mean) / std);
    }

    if (this.historyCount === this.historyPoints) {
      const old = this.history[this.historyNext]!;
      this.sum -= old;
      this.sumSq -= old * old;
    } else {
      this.historyCount++;
    }
    this.history[this.historyNext] = shortMean;
    this.sum += shortMean;
    this.sumSq += shortMean * shortMean;
    this.historyNext = (this.historyNext + 1) % this.historyPoints;
    return tail;
  }
}

/** Maps a tail probability to [0, 1] on a log scale: 1e-10 and smaller give 1, 1 gives 0. */
export function logTailScore(tail: number): number {
  return Math.min(1, Math.max(0, -Math.log10(Math.max(tail, 1e-300)) / 10));
}

/** P(Z > z) for a standard normal Z, from the complementary error function. */
export function gaussianUpperTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Complementary error function (Numerical Recipes' erfcc, relative error below 1.2e-7). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

const DAY_MS = 86_400_000;

/**
 * A warning when the validation split, on which thresholds and ensemble weights are calibrated,
 * spans less than a day. The split is the stretch just before the held-back data, so a short
 * history calibrates on a few hours of the daily cycle, and the hours it leaves out may page: on
 * simulated CPU, a detector trained on one day calibrated on the night and raised 30 to 50 alerts
 * a day. Returns undefined when the split covers a day or more.
 *
 * @param timestampsMs the validation split's timestamps, in order
 * @param validationFraction the split's share of the history, for the history length that is enough
 */
export function validationCoverageWarning(
  timestampsMs: ArrayLike<number>,
  validationFraction: number,
): string | undefined {
  const n = timestampsMs.length;
  if (n < 2) return undefined;
  const first = timestampsMs[0]!;
  const last = timestampsMs[n - 1]!;
  // The last point stands for one step of time too.
  const spanMs = (last - first) * (n / (n - 1));
  if (spanMs >= DAY_MS) return undefined;
  const enoughDays = Math.ceil(1 / validationFraction);
  return (
    `the validation split covers ${(spanMs / 3_600_000).toFixed(1)} h ` +
    `(${new Date(first).toISOString()} to ${new Date(last).toISOString()}), less than a day: the ` +
    'threshold is calibrated on those hours of the daily cycle only and may page at the others; ' +
    `${enoughDays} days of history give it a whole day`
  );
}
