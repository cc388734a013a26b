import { describe, expect, it } from 'vitest';
import {
  calibrate,
  fitCalibration,
  quantileSorted,
  thresholdForRate,
  validationCoverageWarning,
} from '../../ml/calibration.js';
import { createRandom } from '../../ml/random.js';

function exponentialScores(count: number, seed: number): Float64Array {
  const random = createRandom(seed);
  return Float64Array.from({ length: count }, () => -Math.log(1 - random()));
}

describe('quantileSorted', () => {
  it('interpolates linearly between order statistics', () => {
    const sorted = [1, 2, 4, 8];

    expect([0, 1 / 3, 0.5, 0.9, 1].map((p) => quantileSorted(sorted, p))).toEqual([
      1,
      2,
      3,
      expect.closeTo(6.8, 12),
      8,
    ]);
    expect(quantileSorted([], 0.5)).toBeNaN();
  });
});

describe('fitCalibration', () => {
  it('keeps evenly spaced quantiles and the mean excess above the tail start', () => {
    const scores = Float64Array.from({ length: 101 }, (_, i) => i);

    const calibration = fitCalibration(scores, { points: 5, tailLevel: 0.9 });

    // Above the 90th percentile (90): 91..100, mean excess 5.5.
    expect(calibration).toEqual({
      kind: 'empirical-cdf-exponential-tail',
      quantiles: [0, 25, 50, 75, 100],
      tailLevel: 0.9,
      tailStart: 90,
      tailScale: expect.closeTo(5.5, 12),
    });
  });

  it('sorts the scores numerically whatever order they come in', () => {
    const scores = [10, 9, 100, 2, 1, 5, 3, 7, 8, 6, 4];

    expect(fitCalibration(scores, { points: 3 }).quantiles).toEqual([1, 6, 100]);
  });

  it('falls back to a tiny positive scale when the validation scores do not vary', () => {
    const calibration = fitCalibration(new Array(20).fill(0.4));

    expect(calibration.tailStart).toBe(0.4);
    expect(calibration.tailScale).toBeGreaterThan(0);
    expect(calibrate(calibration, 0.4)).toBe(0);
    expect(calibrate(calibration, 0.41)).toBeCloseTo(1, 12);
  });

  it('treats scores closer than its resolution as one, so noise on a flat metric ranks nowhere', () => {
    // A forecaster on a constant metric: residuals of rounding size that grow a little with the horizon.
    const validation = Array.from({ length: 200 }, (_, i) => 1e-3 + 1e-5 * i);
    const later = 1e-2;
    expect(calibrate(fitCalibration(validation), later)).toBeGreaterThan(0.999);
    const coarse = fitCalibration(validation, { resolution: 0.05 });
    expect(coarse.resolution).toBe(0.05);
    expect(coarse.tailScale).toBeGreaterThanOrEqual(0.05);
    expect(calibrate(coarse, later)).toBe(0);
    // A real surprise still lands in the tail.
    expect(calibrate(coarse, 2)).toBeGreaterThan(0.999);
    expect(() => fitCalibration(validation, { resolution: -1 })).toThrow("'resolution' (-1) must be ≥ 0");
  });

  it('refuses fewer than 10 validation scores, saying how many it got', () => {
    expect(() => fitCalibration([1, 2, 3])).toThrow('at least 10 validation scores, got 3');
  });

  it.each([
    [{ points: 1 }, "'points' (1) must be an integer of at least 2"],
    [{ points: 2.5 }, "'points' (2.5) must be an integer of at least 2"],
    [{ tailLevel: 1 }, "'tailLevel' (1) must be strictly between 0 and 1"],
    [{ tailLevel: 0 }, "'tailLevel' (0) must be strictly between 0 and 1"],
  ])('rejects the option %o, naming it and its value', (options, message) => {
    expect(() => fitCalibration(exponentialScores(50, 1), options)).toThrow(message);
  });
});

describe('calibrate', () => {
  const validation = exponentialScores(20_000, 11);
  const calibration = fitCalibration(validation);

  it('maps a raw score to the share of validation scores below it', () => {
    const sorted = Float64Array.from(validation).sort();

    for (const level of [0.1, 0.5, 0.9]) {
      const raw = sorted[Math.round(level * (sorted.length - 1))]!;
      expect(calibrate(calibration, raw)).toBeCloseTo(level, 3);
    }
    expect(calibrate(calibration, sorted[0]! - 1)).toBe(0);
  });

  it('never decreases as the raw score grows, and meets the tail without a jump', () => {
    let previous = -1;
    for (let raw = 0; raw <= 20; raw += 0.01) {
      const calibrated = calibrate(calibration, raw);
      expect(calibrated).toBeGreaterThanOrEqual(previous);
      expect(calibrated).toBeLessThan(1);
      previous = calibrated;
    }
    expect(calibrate(calibration, calibration.tailStart)).toBeCloseTo(calibration.tailLevel, 12);
    expect(calibrate(calibration, calibration.tailStart + 1e-9)).toBeCloseTo(calibration.tailLevel, 9);
  });

  it('keeps ranking scores beyond anything seen in validation', () => {
    const highest = Math.max(...validation);

    expect(calibrate(calibration, highest + 5)).toBeGreaterThan(calibrate(calibration, highest + 1));
  });

  it('flags about the target share of validation points at the threshold for that rate', () => {
    // Exponential scores have an exponential tail, so the fitted tail is exact up to sampling.
    for (const rate of [0.01, 0.005, 0.002]) {
      const threshold = thresholdForRate(rate);

      const flagged = validation.filter((raw) => calibrate(calibration, raw) >= threshold).length;

      expect(Math.abs(flagged / validation.length - rate)).toBeLessThan(rate * 0.3);
    }
  });
});

describe('thresholdForRate', () => {
  it('is one minus the target anomaly rate', () => {
    expect(thresholdForRate(0.002)).toBeCloseTo(0.998, 15);
  });

  it.each([0, 1, -0.1, Number.NaN])('rejects a rate of %s, naming the spec field and the value', (rate) => {
    expect(() => thresholdForRate(rate)).toThrow(
      `'targetAnomalyRate' (${rate}) must be strictly between 0 and 1`,
    );
  });
});

describe('validationCoverageWarning', () => {
  const steps = (count: number, stepMs: number, fromMs = Date.parse('2026-12-04T01:00:00Z')) =>
    Float64Array.from({ length: count }, (_, i) => fromMs + i * stepMs);

  it('warns when the split covers less than a day, naming its hours and the history that is enough', () => {
    // One day of 2 s points, 20% of it for validation: 4.8 hours.
    const warning = validationCoverageWarning(steps(8640, 2000), 0.2);

    expect(warning).toContain('covers 4.8 h (2026-12-04T01:00:00.000Z to 2026-12-04T05:47:58.000Z)');
    expect(warning).toContain('5 days of history');
    expect(validationCoverageWarning(steps(8640, 2000), 0.3)).toContain('4 days of history');
  });

  it('is silent from a whole day on, counting the last point as one step of time', () => {
    expect(validationCoverageWarning(steps(24, 3_600_000), 0.2)).toBeUndefined();
    expect(validationCoverageWarning(steps(23, 3_600_000), 0.2)).toContain('covers 23.0 h');
    expect(validationCoverageWarning(steps(2016, 300_000), 0.2)).toBeUndefined();
    expect(validationCoverageWarning(steps(1, 300_000), 0.2)).toBeUndefined();
  });
});
