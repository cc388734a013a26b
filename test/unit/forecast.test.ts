import { describe, expect, it } from 'vitest';
import {
  ForecastError,
  forecastSeries,
  horizonPoints,
  meanAbsoluteError,
  seasonalNaiveForecast,
  seasonalNaiveScale,
  seasonalPeriods,
  smape,
} from '../../ml/forecast.js';
import { createRandom, normal } from '../../ml/random.js';
import { createSeries, type Series } from '../../ml/series.js';

const STEP_MS = 300_000;
const DAY_POINTS = 288;

/** A daily wave with a trend and seeded noise, 5-minute points; `truth` continues past the end. */
function dailySeries(
  days: number,
  noise: number,
  seed = 7,
): { series: Series; truth: (i: number) => number } {
  const truth = (i: number) => 10 + 0.0005 * i + 4 * Math.sin((2 * Math.PI * i) / DAY_POINTS);
  const random = createRandom(seed);
  const n = days * DAY_POINTS;
  const start = Date.UTC(2024, 0, 1);
  return {
    series: createSeries(
      'daily',
      Array.from({ length: n }, (_, i) => start + i * STEP_MS),
      Array.from({ length: n }, (_, i) => truth(i) + noise * normal(random)),
    ),
    truth,
  };
}

describe('horizonPoints', () => {
  it('turns 30 minutes into points of each step, at least one', () => {
    expect([60_000, 300_000, 600_000, 1_800_000, 3_600_000].map((s) => horizonPoints(s, 30))).toEqual([
      30, 6, 3, 1, 1,
    ]);
  });
});

describe('seasonalPeriods', () => {
  it('keeps daily and weekly periods only where the history holds two cycles of them', () => {
    expect(seasonalPeriods(STEP_MS, 575)).toEqual([]);
    expect(seasonalPeriods(STEP_MS, 576)).toEqual([288]);
    expect(seasonalPeriods(STEP_MS, 4032)).toEqual([288, 2016]);
  });
});

describe('seasonalNaiveForecast', () => {
  it('repeats the value one period earlier and puts the band at the quantile of its own errors', () => {
    const history = [1, 2, 3, 1, 2, 3, 1, 2, 4];

    const result = seasonalNaiveForecast(history, 3, 4, 0.9);

    expect(result.point).toEqual([1, 2, 4, 1]);
    // Errors of the 3-step-back forecast are [0,0,0,0,0,1]; the 0.9 quantile is 0.5.
    expect(result.upper.slice(0, 3)).toEqual([1.5, 2.5, 4.5]);
  });

  it('refuses a history shorter than one period and a point', () => {
    expect(() => seasonalNaiveForecast([1, 2, 3], 3, 1, 0.9)).toThrow(ForecastError);
  });
});

describe('forecastSeries', () => {
  it('forecasts a noisy daily wave 30 minutes ahead close to the truth, with the band above it', () => {
    const { series, truth } = dailySeries(5, 0.3);
    const n = series.values.length;

    const result = forecastSeries(series, { horizonMinutes: 30 });

    expect(result.horizonPoints).toBe(6);
    expect(result.timestampsMs[0]).toBe(series.timestampsMs[n - 1]! + STEP_MS);
    const expected = Array.from({ length: 6 }, (_, h) => truth(n + h));
    expect(meanAbsoluteError(expected, result.point)).toBeLessThan(0.5);
    for (let h = 0; h < 6; h++) expect(result.upper[h]!).toBeGreaterThan(result.point[h]!);
    expect(result.backtestMae?.mstl).toBeGreaterThan(0);
    expect(result.backtestMae?.['seasonal-naive']).toBeGreaterThan(0);
  });

  it('chooses MSTL when it forecasts the recent past better than the seasonal naive', () => {
    // With heavy noise, repeating yesterday's noisy value is worse than a smoothed seasonal model.
    const { series } = dailySeries(4, 1.5, 11);

    const result = forecastSeries(series, { horizonMinutes: 30, selectionOrigins: 4 });

    expect(result.model).toBe('mstl');
    expect(result.periodsPoints).toEqual([288]);
    expect(result.backtestMae!.mstl).toBeLessThan(result.backtestMae!['seasonal-naive']);
  });

  it('puts about nine actual values in ten under the p90 band', () => {
    const { series } = dailySeries(6, 1, 5);
    let covered = 0;
    let total = 0;
    for (let origin = 4 * DAY_POINTS; origin + 6 <= series.values.length; origin += 37) {
      const history = createSeries(
        'h',
        series.timestampsMs.subarray(0, origin),
        series.values.subarray(0, origin),
      );
      const result = forecastSeries(history, { model: 'mstl' });
      result.upper.forEach((u, h) => {
        total++;
        if (series.values[origin + h]! <= u) covered++;
      });
    }

    expect(covered / total).toBeGreaterThan(0.75);
    expect(covered / total).toBeLessThan(0.99);
  });

  it('falls back to the naive forecast where no seasonal cycle fits in the history', () => {
    const { series } = dailySeries(1, 0.1);

    const result = forecastSeries(series, { model: 'auto' });

    expect(result.model).toBe('seasonal-naive');
    expect(result.periodsPoints).toEqual([1]);
    expect(result.point).toEqual(Array(6).fill(series.values.at(-1)));
  });

  it('names the series and the length it needs when the history is too short', () => {
    const series = createSeries('short', [0, 300_000, 600_000], [1, 2, 3]);

    expect(() => forecastSeries(series)).toThrow(
      "series 'short' has 3 points; forecasting 6 steps needs at least 14",
    );
  });
});

describe('error measures', () => {
  it('computes sMAPE in percent and counts two zeros as a perfect forecast', () => {
    expect(smape([100, 0, 50], [110, 0, 50])).toBeCloseTo((100 * (20 / 210)) / 3, 10);
  });

  it('scales MASE by the in-sample error of the seasonal naive forecast', () => {
    expect(seasonalNaiveScale([1, 2, 3, 2, 2, 5], 3)).toBeCloseTo(1, 10);
  });
});
