import { isPowerOfTwo, summariseSpectrum } from './fft.js';
import type { Series } from './series.js';

/**
 * Which features to build. Serialised inside every model so scoring rebuilds exactly the
 * features the model was trained on, with the same code (no train/serve skew). Every field added
 * after the first two is optional and off when absent, so a stored config keeps producing the
 * rows its model was trained on.
 */
export interface FeatureConfig {
  /** Rolling windows, in points, for mean/std/z-score. @default [12, 60] */
  windowsPoints: number[];
  /** Differences x[t] - x[t-k]. @default [1] */
  diffLags: number[];
  /**
   * Rolling windows, in points, for min, max, 10th/50th/90th percentiles and the robust z-score
   * (x - median) / (1.4826 · MAD), which a single spike cannot inflate the way it inflates a std.
   */
  robustWindowsPoints?: number[];
  /** Smoothing factors in (0, 1] of exponentially weighted means; each adds the mean and x minus it. */
  ewmaAlphas?: number[];
  /** Raw lagged values x[t-k]. */
  lags?: number[];
  /** Adds the relative change (x[t] - x[t-1]) / max(|x[t-1]|, scale) per second of elapsed time. */
  rateOfChange?: boolean;
  /**
   * FFT window, in points (a power of two), for the dominant period, its share of the power, the
   * spectral energy and the high-frequency share of the trailing window. 0 or absent: none.
   */
  spectralWindowPoints?: number;
  /** Adds sin/cos encodings of the UTC time of day and day of week. */
  calendar?: boolean;
}

/** Version of the feature code. Version 2 added the optional fields; version-1 configs give identical rows. */
export const FEATURE_SCHEMA_VERSION = 2;

export const DEFAULT_FEATURE_CONFIG: FeatureConfig = Object.freeze({
  windowsPoints: [12, 60],
  diffLags: [1],
}) as FeatureConfig;

/** The full set used by the ensemble's Isolation Forest. */
export const EXTENDED_FEATURE_CONFIG: FeatureConfig = Object.freeze({
  windowsPoints: [12, 60],
  diffLags: [1],
  robustWindowsPoints: [12, 60],
  ewmaAlphas: [0.3, 0.05],
  lags: [1, 2],
  rateOfChange: true,
  spectralWindowPoints: 64,
  calendar: true,
}) as FeatureConfig;

/** Row-major matrix: `rows.length === names.length * count`. */
export interface FeatureMatrix {
  readonly names: string[];
  readonly dims: number;
  readonly count: number;
  readonly rows: Float64Array;
  /** Rows before this index were computed from partial windows. */
  readonly warmupPoints: number;
}

export function featureNames(config: FeatureConfig): string[] {
  const names = ['value'];
  for (const w of config.windowsPoints) names.push(`zscore_${w}`, `mean_${w}`, `std_${w}`);
  for (const k of config.diffLags) names.push(`diff_${k}`);
  for (const w of config.robustWindowsPoints ?? []) {
    names.push(`min_${w}`, `max_${w}`, `p10_${w}`, `median_${w}`, `p90_${w}`, `robust_z_${w}`);
  }
  for (const a of config.ewmaAlphas ?? []) names.push(`ewma_${a}`, `ewma_dev_${a}`);
  for (const k of config.lags ?? []) names.push(`lag_${k}`);
  if (config.rateOfChange) names.push('rate_of_change');
  if (config.spectralWindowPoints) {
    const w = config.spectralWindowPoints;
    names.push(
      `dominant_period_${w}`,
      `dominant_power_ratio_${w}`,
      `log_spectral_energy_${w}`,
      `high_freq_ratio_${w}`,
    );
  }
  if (config.calendar) names.push('time_of_day_sin', 'time_of_day_cos', 'day_of_week_sin', 'day_of_week_cos');
  return names;
}

export function validateFeatureConfig(config: FeatureConfig): void {
  for (const w of config.windowsPoints) {
    if (!Number.isInteger(w) || w < 2)
      throw new RangeError(`'windowsPoints' entry (${w}) must be an integer ≥ 2`);
  }
  for (const k of config.diffLags) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`'diffLags' entry (${k}) must be an integer ≥ 1`);
  }
  for (const w of config.robustWindowsPoints ?? []) {
    if (!Number.isInteger(w) || w < 3) {
      throw new RangeError(`'robustWindowsPoints' entry (${w}) must be an integer ≥ 3`);
    }
  }
  for (const a of config.ewmaAlphas ?? []) {
    if (!(a > 0 && a <= 1)) throw new RangeError(`'ewmaAlphas' entry (${a}) must be in (0, 1]`);
  }
  for (const k of config.lags ?? []) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`'lags' entry (${k}) must be an integer ≥ 1`);
  }
  const s = config.spectralWindowPoints ?? 0;
  if (s !== 0 && (!isPowerOfTwo(s) || s < 8)) {
    throw new RangeError(`'spectralWindowPoints' (${s}) must be 0 or a power of two ≥ 8`);
  }
}

/** How many leading rows of a matrix built with `config` come from partial windows. */
export function warmupPointsOf(config: FeatureConfig): number {
  return Math.max(
    0,
    ...config.windowsPoints,
    ...config.diffLags,
    ...(config.robustWindowsPoints ?? []),
    ...(config.lags ?? []),
    config.spectralWindowPoints ?? 0,
    // An EWMA forgets its start after about 3 / alpha points.
    ...(config.ewmaAlphas ?? []).map((a) => Math.ceil(3 / a)),
  );
}

/**
 * Builds one feature row per point using only that point and the ones before it, so a row is
 * the same whether it is computed in a training batch or in a streaming window.
 */
export function buildFeatures(series: Series, config: FeatureConfig = DEFAULT_FEATURE_CONFIG): FeatureMatrix {
  validateFeatureConfig(config);
  const names = featureNames(config);
  const dims = names.length;
  const x = series.values;
  const n = x.length;
  const rows = new Float64Array(n * dims);
  const columns: { offset: number; values: Float64Array }[] = [];
  let offset = 0;
  const put = (values: Float64Array) => {
    columns.push({ offset, values });
    offset++;
  };

  put(Float64Array.from(x));
  for (const w of config.windowsPoints) {
    const { zscore, mean, std } = rollingMoments(x, w);
    put(zscore);
    put(mean);
    put(std);
  }
  for (const k of config.diffLags)
    put(Float64Array.from({ length: n }, (_, i) => (i >= k ? x[i]! - x[i - k]! : 0)));
  for (const w of config.robustWindowsPoints ?? []) {
    const r = rollingRobust(x, w);
    put(r.min);
    put(r.max);
    put(r.p10);
    put(r.median);
    put(r.p90);
    put(r.robustZ);
  }
  for (const a of config.ewmaAlphas ?? []) {
    const mean = ewma(x, a);
    put(mean);
    put(Float64Array.from({ length: n }, (_, i) => x[i]! - mean[i]!));
  }
  for (const k of config.lags ?? []) put(Float64Array.from({ length: n }, (_, i) => x[Math.max(0, i - k)]!));
  if (config.rateOfChange) put(rateOfChange(series));
  if (config.spectralWindowPoints) {
    for (const column of rollingSpectrum(x, config.spectralWindowPoints)) put(column);
  }
  if (config.calendar) for (const column of calendarEncodings(series.timestampsMs)) put(column);

  for (const column of columns) {
    for (let i = 0; i < n; i++) rows[i * dims + column.offset] = column.values[i]!;
  }
  return { names, dims, count: n, rows, warmupPoints: Math.min(warmupPointsOf(config), n) };
}

/** Rolling mean, population std and z-score of the trailing `w` points (fewer at the start). */
export function rollingMoments(
  x: ArrayLike<number>,
  w: number,
): { mean: Float64Array; std: Float64Array; zscore: Float64Array } {
  const n = x.length;
  const mean = new Float64Array(n);
  const std = new Float64Array(n);
  const zscore = new Float64Array(n);
  // Sums run over deviations from a reference value inside the window, not over raw values: raw
  // sums of squares cancel catastrophically on a large level with a small spread (memory in bytes,
  // ~2e9 ± 1e3, gets stds wrong by several times). Every `w` points the sums are recomputed over
  // the window around a fresh reference, so rounding cannot build up; O(1) amortised per point.
  let reference = 0;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const from = Math.max(0, i - w + 1);
    if (i % w === 0) {
      reference = x[i]!;
      sum = 0;
      sumSq = 0;
      for (let k = from; k <= i; k++) {
        const d = x[k]! - reference;
        sum += d;
        sumSq += d * d;
      }
    } else {
      const d = x[i]! - reference;
      sum += d;
      sumSq += d * d;
      if (i >= w) {
        const old = x[i - w]! - reference;
        sum -= old;
        sumSq -= old * old;
      }
    }
    const len = i + 1 - from;
    const meanDeviation = sum / len;
    const m = reference + meanDeviation;
    const s = Math.sqrt(Math.max(0, sumSq / len - meanDeviation * meanDeviation));
    mean[i] = m;
    std[i] = s;
    zscore[i] = s > 1e-12 ? (x[i]! - m) / s : 0;
  }
  return { mean, std, zscore };
}

export interface RollingRobust {
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly p10: Float64Array;
  readonly median: Float64Array;
  readonly p90: Float64Array;
  /** (x - median) / (1.4826 · MAD) over the trailing window; 0 when the window has no spread. */
  readonly robustZ: Float64Array;
}

/**
 * Order statistics of the trailing `w` points, kept in a sorted buffer updated by binary-search
 * insertion and removal: O(w) per point, which for the windows used here (tens of points) beats
 * a heap pair and stays simple.
 */
export function rollingRobust(x: ArrayLike<number>, w: number): RollingRobust {
  const n = x.length;
  const out = {
    min: new Float64Array(n),
    max: new Float64Array(n),
    p10: new Float64Array(n),
    median: new Float64Array(n),
    p90: new Float64Array(n),
    robustZ: new Float64Array(n),
  };
  const sorted: number[] = [];
  const deviations = new Float64Array(w);
  for (let i = 0; i < n; i++) {
    insertSorted(sorted, x[i]!);
    if (i >= w) removeSorted(sorted, x[i - w]!);
    const len = sorted.length;
    const median = quantileOfSorted(sorted, 0.5);
    out.min[i] = sorted[0]!;
    out.max[i] = sorted[len - 1]!;
    out.p10[i] = quantileOfSorted(sorted, 0.1);
    out.median[i] = median;
    out.p90[i] = quantileOfSorted(sorted, 0.9);
    for (let k = 0; k < len; k++) deviations[k] = Math.abs(sorted[k]! - median);
    const devs = deviations.subarray(0, len).sort();
    const mad = 1.4826 * quantileOfSorted(devs, 0.5);
    out.robustZ[i] = mad > 1e-12 ? (x[i]! - median) / mad : 0;
  }
  return out;
}

/** Exponentially weighted mean, started at the first value. */
export function ewma(x: ArrayLike<number>, alpha: number): Float64Array {
  const out = new Float64Array(x.length);
  let m = x[0] ?? 0;
  for (let i = 0; i < x.length; i++) {
    m += alpha * (x[i]! - m);
    out[i] = m;
  }
  return out;
}

/**
 * Relative change per second: (x[t] - x[t-1]) / max(|x[t-1]|, s) / Δt, where s (the median
 * absolute value of the series so far, at least 1e-9) keeps values near zero from exploding it.
 * Dividing by the elapsed time makes a missed scrape look like a slower change, not a bigger one.
 */
export function rateOfChange(series: Series): Float64Array {
  const x = series.values;
  const t = series.timestampsMs;
  const n = x.length;
  const out = new Float64Array(n);
  let absSum = 0;
  for (let i = 1; i < n; i++) {
    absSum += Math.abs(x[i - 1]!);
    const typical = Math.max(absSum / i, 1e-9);
    const dt = Math.max((t[i]! - t[i - 1]!) / 1000, 1e-3);
    out[i] = (x[i]! - x[i - 1]!) / Math.max(Math.abs(x[i - 1]!), typical) / dt;
  }
  return out;
}

/**
 * Spectral summaries of the trailing `w` points (zero-padded at the start by repeating the first
 * value, which adds no variation): dominant period in points, its share of the power, log energy
 * and high-frequency share. The FFT runs every point, O(w log w) each.
 */
export function rollingSpectrum(x: ArrayLike<number>, w: number): Float64Array[] {
  const n = x.length;
  const period = new Float64Array(n);
  const ratio = new Float64Array(n);
  const energy = new Float64Array(n);
  const high = new Float64Array(n);
  const window = new Float64Array(w);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < w; k++) window[k] = x[Math.max(0, i - w + 1 + k)]!;
    const s = summariseSpectrum(window);
    period[i] = s.dominantPeriodPoints;
    ratio[i] = s.dominantPowerRatio;
    energy[i] = s.logSpectralEnergy;
    high[i] = s.highFrequencyRatio;
  }
  return [period, ratio, energy, high];
}

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
/** 1970-01-01 was a Thursday and 1970-01-05 a Monday: subtracting four days puts Monday 00:00 UTC at phase 0. */
const MONDAY_OFFSET_MS = 4 * DAY_MS;

/** sin/cos of the UTC time of day and of the day of week, so 23:59 sits next to 00:00. */
export function calendarEncodings(timestampsMs: ArrayLike<number>): Float64Array[] {
  const n = timestampsMs.length;
  const columns = [
    new Float64Array(n),
    new Float64Array(n),
    new Float64Array(n),
    new Float64Array(n),
  ] as const;
  for (let i = 0; i < n; i++) {
    const t = timestampsMs[i]!;
    const day = (2 * Math.PI * mod(t, DAY_MS)) / DAY_MS;
    const week = (2 * Math.PI * mod(t - MONDAY_OFFSET_MS, WEEK_MS)) / WEEK_MS;
    columns[0][i] = Math.sin(day);
    columns[1][i] = Math.cos(day);
    columns[2][i] = Math.sin(week);
    columns[3][i] = Math.cos(week);
  }
  return [...columns];
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

function insertSorted(sorted: number[], v: number): void {
  sorted.splice(lowerBound(sorted, v), 0, v);
}

function removeSorted(sorted: number[], v: number): void {
  sorted.splice(lowerBound(sorted, v), 1);
}

/** The first index whose value is not below `v`. */
function lowerBound(sorted: number[], v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function quantileOfSorted(sorted: ArrayLike<number>, p: number): number {
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}
