import type { Series } from './series.js';

/**
 * Which features to build. Serialised inside every model so scoring rebuilds exactly the
 * features the model was trained on, with the same code (no train/serve skew).
 */
export interface FeatureConfig {
  /** Rolling windows, in points, for mean/std/z-score. @default [12, 60] */
  windowsPoints: number[];
  /** Differences x[t] - x[t-k]. @default [1] */
  diffLags: number[];
}

export const FEATURE_SCHEMA_VERSION = 1;

export const DEFAULT_FEATURE_CONFIG: FeatureConfig = Object.freeze({
  windowsPoints: [12, 60],
  diffLags: [1],
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
  return names;
}

export function validateFeatureConfig(config: FeatureConfig): void {
  for (const w of config.windowsPoints) {
    if (!Number.isInteger(w) || w < 2) throw new RangeError(`'windowsPoints' entry (${w}) must be an integer ≥ 2`);
  }
  for (const k of config.diffLags) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`'diffLags' entry (${k}) must be an integer ≥ 1`);
  }
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

  // Prefix sums make every rolling mean/std O(1) per point.
  const sum = new Float64Array(n + 1);
  const sumSq = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    sum[i + 1] = sum[i]! + x[i]!;
    sumSq[i + 1] = sumSq[i]! + x[i]! * x[i]!;
  }

  for (let i = 0; i < n; i++) {
    const base = i * dims;
    let c = 0;
    rows[base + c++] = x[i]!;
    for (const w of config.windowsPoints) {
      const from = Math.max(0, i - w + 1);
      const len = i + 1 - from;
      const mean = (sum[i + 1]! - sum[from]!) / len;
      const variance = Math.max(0, (sumSq[i + 1]! - sumSq[from]!) / len - mean * mean);
      const std = Math.sqrt(variance);
      rows[base + c++] = std > 1e-12 ? (x[i]! - mean) / std : 0;
      rows[base + c++] = mean;
      rows[base + c++] = std;
    }
    for (const k of config.diffLags) rows[base + c++] = i >= k ? x[i]! - x[i - k]! : 0;
  }

  const warmupPoints = Math.max(0, ...config.windowsPoints, ...config.diffLags);
  return { names, dims, count: n, rows, warmupPoints: Math.min(warmupPoints, n) };
}
