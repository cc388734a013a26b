import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  averageInto,
  bandResidual,
  bandScore,
  ProphetModel,
  type SerializedProphetModel,
} from '../../ml/models/prophet.js';
import { createRandom, normal } from '../../ml/random.js';
import { parseCsvSeries } from '../../ml/series.js';

const stepMs = 15 * 60_000;
const start = Date.UTC(2024, 0, 1);

function dailySeries(days: number, seed: number): { ts: Float64Array; vs: Float64Array } {
  const random = createRandom(seed);
  const n = days * 96;
  const ts = Float64Array.from({ length: n }, (_, i) => start + i * stepMs);
  const vs = Float64Array.from(
    { length: n },
    (_, i) => 50 + 0.01 * i + 10 * Math.sin((2 * Math.PI * i) / 96) + normal(random),
  );
  return { ts, vs };
}

describe('Prophet model', () => {
  it('forecasts the next day of a daily cycle within its band and flags a planted anomaly', () => {
    const { ts, vs } = dailySeries(8, 1);
    const train = 7 * 96;
    const model = ProphetModel.fit(ts.subarray(0, train), vs.subarray(0, train));
    expect(model.residualSigma).toBeCloseTo(1, 0);

    const future = vs.slice(train);
    future[40] = future[40]! + 12;
    const scores = model.score(ts.subarray(train), future);
    let inside = 0;
    for (let i = 0; i < scores.length; i++) if (i !== 40 && scores[i]! <= 1) inside++;
    // A 95% band should hold close to 95% of the normal next-day points.
    expect(inside / (scores.length - 1)).toBeGreaterThan(0.88);
    expect(scores[40]).toBeGreaterThan(4);
    model.free();
  });

  it('reloads from JSON to the same forecast by refitting deterministically', () => {
    const { ts, vs } = dailySeries(3, 2);
    const model = ProphetModel.fit(ts.subarray(0, 250), vs.subarray(0, 250));
    const loaded = ProphetModel.fromJSON(JSON.parse(JSON.stringify(model.toJSON())));
    const a = model.forecast(ts.subarray(250, 260));
    const b = loaded.forecast(ts.subarray(250, 260));
    for (let i = 0; i < 10; i++) expect(b.point[i]).toBeCloseTo(a.point[i]!, 6);
    model.free();
    loaded.free();
  });

  it('keeps only the most recent points it is allowed to train on', () => {
    const { ts, vs } = dailySeries(2, 3);
    const model = ProphetModel.fit(ts, vs, { maxTrainPoints: 100 });
    expect(model.toJSON().values).toHaveLength(100);
    expect(model.trainedUntilMs).toBe(ts[ts.length - 1]);
    model.free();
  });

  it('averages days of a fine scrape step into its point budget, so it learns the daily cycle', () => {
    // Four days at a 1-minute step: the newest 2,016 raw points would span 1.4 days, too short for
    // Prophet to switch daily seasonality on.
    const random = createRandom(4);
    const minute = 60_000;
    const days = 4;
    const n = days * 1440 + 360;
    const ts = Float64Array.from({ length: n }, (_, i) => start + i * minute);
    const vs = Float64Array.from(
      { length: n },
      (_, i) => 50 + 10 * Math.sin((2 * Math.PI * i) / 1440) + normal(random),
    );
    const train = days * 1440;
    const model = ProphetModel.fit(ts.subarray(0, train), vs.subarray(0, train));
    const recentOnly = ProphetModel.fit(ts.subarray(0, train), vs.subarray(0, train), { historyDays: 1 });
    expect(model.toJSON().values.length).toBeLessThanOrEqual(2016);
    expect(model.toJSON().timestampsMs[0]).toBeLessThan(start + minute * 3);
    expect(model.trainedUntilMs).toBe(ts[train - 1]);
    // The band is measured on the raw points, not on the narrower averages.
    expect(model.residualSigma).toBeCloseTo(1, 0);

    const meanAbsError = (m: ProphetModel) => {
      const f = m.forecast(ts.subarray(train));
      let sum = 0;
      for (let i = 0; i < f.point.length; i++) sum += Math.abs(vs[train + i]! - f.point[i]!);
      return sum / f.point.length;
    };
    // Six hours ahead, the cycle turns by 90 degrees: only a model that learned it follows.
    expect(meanAbsError(model)).toBeLessThan(1.5);
    expect(meanAbsError(recentOnly)).toBeGreaterThan(2 * meanAbsError(model));

    const loaded = ProphetModel.fromJSON(JSON.parse(JSON.stringify(model.toJSON())));
    expect(loaded.residualSigma).toBe(model.residualSigma);
    expect(loaded.trainedUntilMs).toBe(model.trainedUntilMs);
    expect(loaded.forecast([ts[train]!]).point[0]).toBeCloseTo(model.forecast([ts[train]!]).point[0]!, 6);
    for (const m of [model, recentOnly, loaded]) m.free();
  });

  it('covers a little over two weeks by default, so it learns the weekend at a 5-minute step', () => {
    const random = createRandom(9);
    const step = 5 * 60_000;
    const n = 20 * 288;
    const ts = Float64Array.from({ length: n }, (_, i) => start + i * step);
    const weekend = (t: number) => [0, 6].includes(new Date(t).getUTCDay());
    const vs = Float64Array.from(
      ts,
      (t, i) => 50 - (weekend(t) ? 20 : 0) + 5 * Math.sin((2 * Math.PI * i) / 288) + normal(random),
    );
    // 19 days from Monday 1 January: training ends on a Friday night, the day forecast is Saturday.
    const train = 19 * 288;
    const meanAbsError = (options: { historyDays?: number }) => {
      const model = ProphetModel.fit(ts.subarray(0, train), vs.subarray(0, train), options);
      const f = model.forecast(ts.subarray(train));
      let error = 0;
      for (let i = 0; i < f.point.length; i++) error += Math.abs(vs[train + i]! - f.point[i]!);
      model.free();
      return error / f.point.length;
    };
    // Three weekly harmonics round off the one-step drop of 20 into the weekend: an error near 5.
    const fifteenDays = meanAbsError({});
    expect(fifteenDays).toBeLessThan(8);
    // The newest 2,016 points alone are a week: too short for weekly seasonality, so Saturday is
    // forecast at a weekday's level.
    expect(meanAbsError({ historyDays: 7 })).toBeGreaterThan(2 * fifteenDays + 5);
  });

  it('loads a model saved before averaging existed, measuring its band from its points', () => {
    const { ts, vs } = dailySeries(3, 5);
    const current = ProphetModel.fit(ts, vs);
    const { residualSigma: _sigma, trainedUntilMs: _until, ...older } = current.toJSON();
    const loaded = ProphetModel.fromJSON(older);
    expect(loaded.residualSigma).toBeCloseTo(current.residualSigma, 9);
    expect(loaded.trainedUntilMs).toBe(ts[ts.length - 1]);
    current.free();
    loaded.free();
  });

  it('follows the last slope a short way past the training data and flattens it after', () => {
    // The series climbs 0.96 a day: a steady slope the trend fits.
    const { ts, vs } = dailySeries(7, 8);
    const end = ts[ts.length - 1]!;
    const hour = 3_600_000;
    const day = 24 * hour;
    const damped = ProphetModel.fit(ts, vs);
    const linear = ProphetModel.fit(ts, vs, { trendAfterTraining: 'linear' });
    const at = [end + hour, end + day, end + 3 * day];
    const d = damped.forecast(at).point;
    const l = linear.forecast(at).point;
    // Within the hour the two agree. Past it, a slope s a day moves the linear trend s × t and
    // the damped one s × (1 - e^-t): a day out they part by s / e, about 0.35; three days out
    // by s × (2 + e^-3), about 1.9.
    expect(Math.abs(d[0]! - l[0]!)).toBeLessThan(0.02);
    expect(l[1]! - d[1]!).toBeGreaterThan(0.3);
    expect(l[1]! - d[1]!).toBeLessThan(0.4);
    expect((l[2]! - d[2]!) / (l[1]! - d[1]!)).toBeCloseTo((2 + Math.exp(-3)) / Math.exp(-1), 1);
    damped.free();
    linear.free();
  });

  it('loads a model saved before the damped trend existed with the linear trend it was calibrated with', () => {
    const { ts, vs } = dailySeries(7, 9);
    const linear = ProphetModel.fit(ts, vs, { trendAfterTraining: 'linear' });
    const { trendAfterTraining: _trend, trendDampingDays: _days, ...options } = linear.toJSON().options;
    const older = { ...linear.toJSON(), options } as unknown as SerializedProphetModel;
    const loaded = ProphetModel.fromJSON(older);
    const ahead = [ts[ts.length - 1]! + 3 * 86_400_000];
    expect(loaded.forecast(ahead).point[0]).toBeCloseTo(linear.forecast(ahead).point[0]!, 6);
    linear.free();
    loaded.free();
  });

  it('fits a metric that stayed at zero and flags the first time it leaves zero', () => {
    const ts = Float64Array.from({ length: 300 }, (_, i) => start + i * stepMs);
    const model = ProphetModel.fit(ts, new Float64Array(300));
    const next = [ts[299]! + stepMs, ts[299]! + 2 * stepMs];
    const f = model.forecast(next);
    expect(Math.abs(f.point[0]!)).toBeLessThan(1e-6);
    const scores = model.score(next, [0, 1]);
    expect(scores[0]).toBeLessThan(1);
    expect(scores[1]).toBeGreaterThan(100);
    const loaded = ProphetModel.fromJSON(JSON.parse(JSON.stringify(model.toJSON())));
    expect(loaded.forecast(next).point[1]).toBeCloseTo(f.point[1]!, 9);
    model.free();
    loaded.free();
  });

  it('fits a level that varies little around 70, which defeats the optimiser under the default scaling', async () => {
    const path = new URL('../fixtures/prophet/ambient_temperature_hourly.csv', import.meta.url);
    const { timestampsMs: ts, values: vs } = parseCsvSeries('ambient', await readFile(path, 'utf8'));
    const model = ProphetModel.fit(ts, vs);
    // The fitted band holds the series as tightly as its hourly noise allows.
    expect(model.residualSigma).toBeGreaterThan(0.5);
    expect(model.residualSigma).toBeLessThan(5);
    const next = model.forecast([ts[ts.length - 1]! + 3_600_000]).point[0]!;
    expect(Math.abs(next - vs[vs.length - 1]!)).toBeLessThan(5);
    model.free();
  });

  it('keeps a band as narrow as the moves of a metric far below 1', () => {
    const { ts, vs } = dailySeries(3, 11);
    // About 1e-6, moving by 1e-8: an absolute floor of 1e-6 on the band would hide every move.
    const tiny = Float64Array.from(vs, (v) => v * 2e-8);
    const model = ProphetModel.fit(ts, tiny);
    expect(model.residualSigma).toBeLessThan(5e-8);
    const next = ts[ts.length - 1]! + stepMs;
    const expected = model.forecast([next]).point[0]!;
    expect(model.score([next], [expected + 3e-7])[0]).toBeGreaterThan(2);
    model.free();
  });

  it('says which points defeated the optimiser when no fit converges', () => {
    // Sixteen points of a three-step saw: too few for the seasonal and trend terms Prophet sets up.
    const ts = Float64Array.from({ length: 16 }, (_, i) => start + i * 60_000);
    const vs = Float64Array.from({ length: 16 }, (_, i) => i % 3);
    expect(() => ProphetModel.fit(ts, vs)).toThrow(RangeError);
    expect(() => ProphetModel.fit(ts, vs)).toThrow(
      /no fit for 16 points from 2024-01-01T00:00:00.000Z .*lbfgs with absMax .*newton with absMax .*lbfgs with minMax /,
    );
    // The WebAssembly instance survives the failure: the next fit works.
    const { ts: dts, vs: dvs } = dailySeries(3, 8);
    const model = ProphetModel.fit(dts, dvs);
    expect(model.residualSigma).toBeCloseTo(1, 0);
    model.free();
  });

  it('takes times with a millisecond fraction, as a scrape that did not start on a second gives', () => {
    const { ts, vs } = dailySeries(2, 10);
    const shifted = Float64Array.from(ts, (t) => t + 123);
    const model = ProphetModel.fit(shifted, vs);
    const whole = ProphetModel.fit(ts, vs);
    const next = [shifted[shifted.length - 1]! + stepMs];
    expect(model.forecast(next).point[0]).toBeCloseTo(
      whole.forecast([ts[ts.length - 1]! + stepMs]).point[0]!,
      6,
    );
    model.free();
    whole.free();
  });

  it('rejects a point budget or history it cannot use', () => {
    const { ts, vs } = dailySeries(1, 6);
    expect(() => ProphetModel.fit(ts, vs, { maxTrainPoints: 4 })).toThrow(/'maxTrainPoints' \(4\)/);
    expect(() => ProphetModel.fit(ts, vs, { historyDays: 0 })).toThrow(/'historyDays' \(0\)/);
    expect(() => ProphetModel.fit(ts, vs, { trendDampingDays: -1 })).toThrow(/'trendDampingDays' \(-1\)/);
  });

  it('averages into equal stretches of time and leaves out the empty ones', () => {
    const ts = Float64Array.from([0, 1, 2, 3, 8, 9, 10, 11]);
    const vs = Float64Array.from([1, 3, 5, 7, 2, 4, 6, 8]);
    const out = averageInto(ts, vs, 4);
    // Stretches of 11/4 ms: [0, 2.75) holds 0-2, [2.75, 5.5) holds 3, [5.5, 8.25) holds 8, the last 9-11.
    expect(Array.from(out.ts)).toEqual([1, 3, 8, 10]);
    expect(Array.from(out.vs)).toEqual([3, 7, 2, 6]);
    expect(averageInto(ts, vs, 8).ts).toBe(ts);
  });

  it('measures a value in half-widths of the band on the side it falls', () => {
    expect(bandScore(10, 10, 8, 14)).toBeCloseTo(0, 12);
    expect(bandScore(14, 10, 8, 14)).toBeCloseTo(1, 12);
    expect(bandScore(6, 10, 8, 14)).toBeCloseTo(2, 12);
    // Signed: below the forecast counts against the lower half-width, negative.
    expect(bandResidual(6, 10, 8, 14)).toBeCloseTo(-2, 12);
    expect(bandResidual(16, 10, 8, 14)).toBeCloseTo(1.5, 12);
  });
});
