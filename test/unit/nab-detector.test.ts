import { describe, expect, it } from 'vitest';
import { createEnsembleStreamingDetector, MemberStream, ScoreFusion } from '../../ml/nab-detector.js';
import { createRandom, normal } from '../../ml/random.js';

const stepMs = 5 * 60_000;
const start = Date.UTC(2024, 0, 1);

function dailyValues(length: number, seed: number): Float64Array {
  const random = createRandom(seed);
  return Float64Array.from(
    { length },
    (_, i) => 20 + 5 * Math.sin((2 * Math.PI * i) / 288) + 0.3 * normal(random),
  );
}

describe('ensemble streaming detector', () => {
  it('scores within [0, 1], stays quiet on normal data and fires on a planted spike', () => {
    const values = dailyValues(1400, 1);
    values[1200] = values[1200]! + 6;
    const detector = createEnsembleStreamingDetector({
      members: ['isolation-forest', 'prophet'],
      retrainEveryPoints: 400,
    })({ seriesName: 'synthetic', probationaryPoints: 600 });
    const scores = values.map((v, i) => detector.step(start + i * stepMs, v));

    for (const s of scores) {
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(1);
    }
    let normalMax = 0;
    for (let i = 700; i < 1190; i++) normalMax = Math.max(normalMax, scores[i]!);
    const spike = Math.max(...scores.subarray(1200, 1205));
    expect(spike).toBeGreaterThan(normalMax + 0.1);
  }, 60_000);

  it('scores a new extreme through the range signal only once the series spans a week', () => {
    // No members, so only the range signal and the mean shift score: a new high on day 3 and
    // another on day 8.
    const values = dailyValues(9 * 288, 5);
    values[3 * 288] = 40;
    values[8 * 288] = 60;
    const scoresWith = (rangeAfterDays?: number) => {
      const detector = createEnsembleStreamingDetector({
        members: [],
        forecastDriftPoints: 0,
        ...(rangeAfterDays !== undefined ? { rangeAfterDays } : {}),
      })({ seriesName: 'weekly', probationaryPoints: 300 });
      return values.map((v, i) => detector.step(start + i * stepMs, v));
    };
    const week = scoresWith();
    expect(week[3 * 288]).toBeLessThan(0.5);
    expect(week[8 * 288]).toBe(1);
    expect(scoresWith(0)[3 * 288]).toBe(1);
  });

  it("flags a day that runs low inside Prophet's band through the forecast drift, not without it", () => {
    // A holiday: 1.3 noise sigmas below normal for a whole day, each row well inside the band.
    const values = dailyValues(1800, 4);
    for (let i = 1300; i < 1588; i++) values[i] = values[i]! - 0.4;
    const highest = (forecastDriftPoints: number) => {
      const detector = createEnsembleStreamingDetector({
        members: ['prophet'],
        forecastDriftPoints,
        // The range signal would fire on the noise's new extremes and hide what this test is about.
        rangeTolerance: 0,
      })({ seriesName: 'holiday', probationaryPoints: 600 });
      const scores = values.map((v, i) => detector.step(start + i * stepMs, v));
      return {
        normal: Math.max(...scores.subarray(700, 1300)),
        holiday: Math.max(...scores.subarray(1300, 1588)),
      };
    };

    const withDrift = highest(48);
    expect(withDrift.holiday).toBeGreaterThan(0.9);
    expect(withDrift.holiday).toBeGreaterThan(withDrift.normal + 0.3);
    expect(highest(0).holiday).toBeLessThan(0.8);
  }, 60_000);

  it('scores nothing before a member is first trained', () => {
    const stream = new MemberStream(100, { members: ['isolation-forest'] });
    const values = dailyValues(101, 2);
    for (let i = 0; i < 100; i++) {
      expect(Number.isNaN(stream.step(start + i * stepMs, values[i]!)['isolation-forest'])).toBe(true);
    }
    expect(Number.isFinite(stream.step(start + 100 * stepMs, values[100]!)['isolation-forest'])).toBe(true);
  });

  it('reports a repeat detection right after the first at a suppressed level', () => {
    const fusion = new ScoreFusion({
      likelihood: { shortPoints: 1, historyPoints: 200, minHistoryPoints: 20 },
      suppressionPoints: 50,
      suppressedFactor: 0,
    });
    const random = createRandom(3);
    for (let i = 0; i < 100; i++)
      fusion.step({ 'isolation-forest': Number.NaN, lstm: random(), prophet: Number.NaN });
    const first = fusion.step({ 'isolation-forest': Number.NaN, lstm: 5, prophet: Number.NaN }).score;
    const repeat = fusion.step({ 'isolation-forest': Number.NaN, lstm: 4, prophet: Number.NaN }).score;
    expect(first).toBeGreaterThan(0.2);
    expect(repeat).toBe(0);
  });

  it('counts a gated stream only at rows whose own raw score reaches the gate', () => {
    // Band scores in half-widths: the mean of the last 5 stays surprising for rows after a burst
    // that are back inside the band.
    const fused = (gates?: Record<string, number>) => {
      const fusion = new ScoreFusion({
        likelihood: { shortPoints: 5, historyPoints: 200, minHistoryPoints: 20 },
        suppressionPoints: 0,
        suppressedFactor: 1,
        ...(gates ? { gates } : {}),
      });
      const random = createRandom(4);
      for (let i = 0; i < 150; i++) fusion.step({ prophet: 0.5 * random() });
      const burst = [fusion.step({ prophet: 6 }), fusion.step({ prophet: 6 })];
      const after = fusion.step({ prophet: 0.4 });
      return { burst: burst.map((b) => b.score), after: after.score, afterTail: after.tails.prophet! };
    };
    const open = fused();
    const gated = fused({ prophet: 2 });
    expect(open.after).toBeGreaterThan(0.5);
    expect(gated.after).toBe(0);
    expect(gated.afterTail).toBe(1);
    // Rows beyond the gate score as they would without it.
    expect(gated.burst).toEqual(open.burst);
  });
});
