import { describe, expect, it } from 'vitest';
import { bandScore, ProphetModel } from '../../ml/models/prophet.js';
import { createRandom, normal } from '../../ml/random.js';

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

  it('measures a value in half-widths of the band on the side it falls', () => {
    expect(bandScore(10, 10, 8, 14)).toBeCloseTo(0, 12);
    expect(bandScore(14, 10, 8, 14)).toBeCloseTo(1, 12);
    expect(bandScore(6, 10, 8, 14)).toBeCloseTo(2, 12);
  });
});
