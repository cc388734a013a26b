import { describe, expect, it } from 'vitest';
import { CheapSignals, ForecastDrift, RangeSignal, robustLocationScale } from '../../ml/nab-signals.js';

describe('NAB cheap signals', () => {
  it('robustLocationScale gives the median and the scaled MAD', () => {
    const r = robustLocationScale(Float64Array.from([1, 2, 3, 4, 100]));
    expect(r.median).toBe(3);
    expect(r.sigma).toBeCloseTo(1.4826, 6);
  });

  it('a mean shift scores high only once the shifted rows arrive, judged against earlier rows', () => {
    const s = new CheapSignals({ zWindows: [64], shifts: [{ recent: 5, reference: 200 }] });
    const quiet: number[] = [];
    let shifted = 0;
    for (let i = 0; i < 300; i++) {
      const v = (i % 7) * 0.1 + (i >= 290 ? 10 : 0);
      const out = s.step(v);
      if (i >= 50 && i < 290) quiet.push(out['shift5/200']!, out.z64!);
      if (i === 294) shifted = out['shift5/200']!;
    }
    expect(Math.max(...quiet)).toBeLessThan(3);
    expect(shifted).toBeGreaterThan(10);
  });

  it('reports NaN until a window has enough rows', () => {
    const s = new CheapSignals({ zWindows: [64], minPoints: 16 });
    for (let i = 0; i < 16; i++) expect(Number.isNaN(s.step(i).z64)).toBe(true);
    expect(Number.isFinite(s.step(3).z64)).toBe(true);
  });

  it('the range signal fires on a value beyond every earlier one, widened by the tolerance', () => {
    const r = new RangeSignal(0.1, 4);
    const seen = [0, 10, 5, 2].map((v) => r.step(v));
    expect(seen).toEqual([false, false, false, false]);
    expect(r.step(10.5)).toBe(false);
    expect(r.step(12)).toBe(true);
    expect(r.step(-1.3)).toBe(true); // range 0..12: margin 1.2
  });

  it('forecast drift is the magnitude of the mean signed residual over the last rows', () => {
    const drift = new ForecastDrift(4);
    // Residuals that swing inside the band average out; NaN rows are not counted.
    expect([0.8, -0.8, Number.NaN, 0.8].map((r) => drift.step(r)).every(Number.isNaN)).toBe(true);
    expect(drift.step(-0.8)).toBeCloseTo(0, 12);
    // A stretch that runs low at every row, each residual well inside the band, adds up.
    const low = [-0.6, -0.6, -0.6, -0.6].map((r) => drift.step(r));
    expect(low).toEqual([0.35, 0.3, 0.65, 0.6].map((v) => expect.closeTo(v, 12)));
    expect(() => new ForecastDrift(0)).toThrow("'points' (0) must be a whole number of at least 1");
  });
});
