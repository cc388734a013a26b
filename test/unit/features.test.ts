import { describe, expect, it } from 'vitest';
import {
  buildFeatures,
  calendarEncodings,
  DEFAULT_FEATURE_CONFIG,
  EXTENDED_FEATURE_CONFIG,
  ewma,
  featureNames,
  rateOfChange,
  rollingMoments,
  rollingRobust,
  rollingSpectrum,
} from '../../ml/features.js';
import { createRandom, normal } from '../../ml/random.js';
import type { Series } from '../../ml/series.js';

function seededSeries(length: number, seed: number, stepMs = 60_000): Series {
  const random = createRandom(seed);
  return {
    name: 'seeded',
    timestampsMs: Float64Array.from({ length }, (_, i) => Date.UTC(2024, 0, 1) + i * stepMs),
    values: Float64Array.from({ length }, () => 10 + normal(random)),
  };
}

/** Mean, population std and z-score of x[i] over the trailing window, two passes, no shortcuts. */
function naiveMoments(x: ArrayLike<number>, i: number, w: number) {
  const window = Array.from({ length: Math.min(w, i + 1) }, (_, k) => x[i - k]!);
  const mean = window.reduce((a, b) => a + b, 0) / window.length;
  const std = Math.sqrt(window.reduce((a, b) => a + (b - mean) ** 2, 0) / window.length);
  return { mean, std, zscore: std > 1e-12 ? (x[i]! - mean) / std : 0 };
}

/** Largest error against the naive computation, relative to each value's scale (at least 1 for mean and z). */
function worstErrorAgainstNaive(x: Float64Array, w: number): number {
  const { mean, std, zscore } = rollingMoments(x, w);
  let worst = 0;
  const compare = (actual: number, expected: number, scale: number) => {
    worst = Math.max(worst, Math.abs(actual - expected) / scale);
  };
  for (let i = 0; i < x.length; i++) {
    const expected = naiveMoments(x, i, w);
    compare(mean[i]!, expected.mean, Math.max(Math.abs(expected.mean), 1));
    compare(std[i]!, expected.std, Math.max(expected.std, 1e-12));
    compare(zscore[i]!, expected.zscore, Math.max(Math.abs(expected.zscore), 1));
  }
  return worst;
}

function column(series: Series, name: string, config = EXTENDED_FEATURE_CONFIG): Float64Array {
  const m = buildFeatures(series, config);
  const d = m.names.indexOf(name);
  if (d < 0) throw new Error(`no feature '${name}'`);
  return Float64Array.from({ length: m.count }, (_, i) => m.rows[i * m.dims + d]!);
}

describe('features', () => {
  it('computes rolling mean, std and z-score over the trailing window', () => {
    const x = [1, 2, 3, 4, 10];
    const { mean, std, zscore } = rollingMoments(x, 3);
    expect(mean[4]).toBeCloseTo(17 / 3, 12);
    expect(std[4]).toBeCloseTo(Math.sqrt((9 + 16 + 100) / 3 - (17 / 3) ** 2), 12);
    expect(zscore[4]).toBeCloseTo((10 - 17 / 3) / std[4]!, 12);
  });

  it('matches a naive two-pass mean, std and z-score at every point, partial windows included', () => {
    const series = seededSeries(500, 12);
    for (const w of [2, 12, 60]) expect(worstErrorAgainstNaive(series.values, w)).toBeLessThan(1e-9);
  });

  it('keeps the rolling std exact on a large level with a small spread, as memory in bytes has', () => {
    const random = createRandom(13);
    // 2 GB ± 1 kB, stepping up by 50 kB half-way.
    const bytes = Float64Array.from(
      { length: 5_000 },
      (_, i) => 2e9 + 1e3 * normal(random) + (i >= 2_500 ? 5e4 : 0),
    );

    for (const w of [12, 60]) expect(worstErrorAgainstNaive(bytes, w)).toBeLessThan(1e-6);
  });

  it('gives a flat window a zero std and a zero z-score', () => {
    const { mean, std, zscore } = rollingMoments([3, 3, 3, 3, 3], 3);

    expect(Array.from(mean)).toEqual([3, 3, 3, 3, 3]);
    expect(Array.from(std)).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(zscore)).toEqual([0, 0, 0, 0, 0]);
  });

  it('builds diff columns as x[t] - x[t-k], zero before k points exist', () => {
    const series = seededSeries(50, 14);
    const config = { windowsPoints: [12], diffLags: [1, 5] };

    const diff1 = column(series, 'diff_1', config);
    const diff5 = column(series, 'diff_5', config);

    const x = series.values;
    expect(Array.from(diff1)).toEqual(Array.from(x, (v, i) => (i >= 1 ? v - x[i - 1]! : 0)));
    expect(Array.from(diff5)).toEqual(Array.from(x, (v, i) => (i >= 5 ? v - x[i - 5]! : 0)));
  });

  it('places the value, rolling moments and diffs of the default config in their named columns', () => {
    const series = seededSeries(120, 15);
    const m = buildFeatures(series, DEFAULT_FEATURE_CONFIG);

    const i = 90;
    const row = Array.from(m.rows.subarray(i * m.dims, (i + 1) * m.dims));
    const w12 = naiveMoments(series.values, i, 12);
    const w60 = naiveMoments(series.values, i, 60);
    const x = series.values;
    const expected = [x[i]!, w12.zscore, w12.mean, w12.std, w60.zscore, w60.mean, w60.std, x[i]! - x[i - 1]!];
    expect(row).toEqual(expected.map((v) => expect.closeTo(v, 9)));
    expect(m.warmupPoints).toBe(60);
  });

  it('leaves every earlier row unchanged when a later value changes', () => {
    const series = seededSeries(300, 16);
    const changed = Float64Array.from(series.values);
    changed[200] = changed[200]! + 50;

    const before = buildFeatures(series, EXTENDED_FEATURE_CONFIG);
    const after = buildFeatures({ ...series, values: changed }, EXTENDED_FEATURE_CONFIG);

    const cut = 200 * before.dims;
    expect(after.rows.subarray(0, cut)).toEqual(before.rows.subarray(0, cut));
    expect(after.rows.subarray(cut, cut + before.dims)).not.toEqual(
      before.rows.subarray(cut, cut + before.dims),
    );
  });

  it('computes rolling order statistics and a robust z-score that one spike cannot inflate', () => {
    const x = [5, 1, 4, 2, 3, 100];
    const r = rollingRobust(x, 5);
    // Window of the last point: 1, 4, 2, 3, 100.
    expect(r.min[5]).toBe(1);
    expect(r.max[5]).toBe(100);
    expect(r.median[5]).toBe(3);
    expect(r.p10[5]).toBeCloseTo(1.4, 12);
    // Deviations from 3: 2, 1, 1, 0, 97 → MAD 1.
    expect(r.robustZ[5]).toBeCloseTo(97 / 1.4826, 9);
  });

  it('matches a sort-based rolling median on seeded data', () => {
    const series = seededSeries(300, 4);
    const r = rollingRobust(series.values, 12);
    for (const i of [11, 57, 200, 299]) {
      const window = Array.from(series.values.subarray(i - 11, i + 1)).sort((a, b) => a - b);
      expect(r.median[i]).toBeCloseTo((window[5]! + window[6]!) / 2, 12);
    }
  });

  it('smooths with an exponentially weighted mean started at the first value', () => {
    const m = ewma([2, 4, 4], 0.5);
    expect(Array.from(m)).toEqual([2, 3, 3.5]);
  });

  it('expresses the rate of change relative to the previous value per second', () => {
    const series: Series = {
      name: 'r',
      timestampsMs: Float64Array.of(0, 10_000),
      values: Float64Array.of(100, 110),
    };
    expect(rateOfChange(series)[1]).toBeCloseTo(0.1 / 10, 12);
  });

  it('finds the period of a cycle in the trailing FFT window', () => {
    const x = Float64Array.from({ length: 200 }, (_, t) => Math.sin((2 * Math.PI * t) / 16));
    const [period, ratio] = rollingSpectrum(x, 64);
    expect(period![199]).toBeCloseTo(16, 9);
    expect(ratio![199]).toBeGreaterThan(0.9);
  });

  it('encodes midnight UTC on a Monday at phase zero of both cycles', () => {
    const [daySin, dayCos, weekSin, weekCos] = calendarEncodings([Date.UTC(2024, 0, 1)]);
    expect(daySin![0]).toBeCloseTo(0, 12);
    expect(dayCos![0]).toBeCloseTo(1, 12);
    expect(weekSin![0]).toBeCloseTo(0, 12);
    expect(weekCos![0]).toBeCloseTo(1, 12);
  });

  it('builds rows whose columns follow the names, for the extended config', () => {
    const series = seededSeries(200, 5);
    const m = buildFeatures(series, EXTENDED_FEATURE_CONFIG);
    expect(m.names).toEqual(featureNames(EXTENDED_FEATURE_CONFIG));
    expect(m.rows.length).toBe(m.dims * 200);
    expect(m.warmupPoints).toBe(64);
    expect(column(series, 'lag_2')[50]).toBe(series.values[48]);
    expect(column(series, 'robust_z_12')[80]).toBeCloseTo(rollingRobust(series.values, 12).robustZ[80]!, 12);
  });

  it('gives a row that depends only on its own and earlier points', () => {
    const series = seededSeries(200, 6);
    const full = buildFeatures(series, EXTENDED_FEATURE_CONFIG);
    const prefix = buildFeatures(
      {
        ...series,
        timestampsMs: series.timestampsMs.subarray(0, 120),
        values: series.values.subarray(0, 120),
      },
      EXTENDED_FEATURE_CONFIG,
    );
    const row = full.rows.subarray(119 * full.dims, 120 * full.dims);
    const same = prefix.rows.subarray(119 * prefix.dims, 120 * prefix.dims);
    for (let d = 0; d < full.dims; d++) expect(same[d]).toBeCloseTo(row[d]!, 12);
  });

  it('keeps the first config producing its original columns', () => {
    expect(featureNames(DEFAULT_FEATURE_CONFIG)).toEqual([
      'value',
      'zscore_12',
      'mean_12',
      'std_12',
      'zscore_60',
      'mean_60',
      'std_60',
      'diff_1',
    ]);
  });

  it('rejects an FFT window that is not a power of two', () => {
    expect(() =>
      buildFeatures(seededSeries(10, 1), { ...DEFAULT_FEATURE_CONFIG, spectralWindowPoints: 48 }),
    ).toThrow(/power of two/);
  });
});
