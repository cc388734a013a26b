import { describe, expect, it } from 'vitest';
import {
  type EnsembleDetectorModel,
  explainModels,
  fitEnsembleModel,
  forecastDrift,
  loadDetectorModel,
  trainDetectorModel,
} from '../../ml/detector-model.js';
import { trainLstmForecaster } from '../../ml/models/lstm.js';
import { ProphetModel } from '../../ml/models/prophet.js';
import { createRandom, normal } from '../../ml/random.js';
import { createSeries, type Series, sliceSeries } from '../../ml/series.js';
import { initTfBackend } from '../../ml/tf-backend.js';

function dailySeries(points: number, seed: number): Series {
  const random = createRandom(seed);
  const step = 600_000;
  return createSeries(
    'daily',
    Array.from({ length: points }, (_, i) => 1_700_000_000_000 + i * step),
    Array.from(
      { length: points },
      (_, i) => 10 + 3 * Math.sin((2 * Math.PI * i) / 144) + 0.3 * normal(random),
    ),
  );
}

describe('ensemble detector model', () => {
  it('weighs members by the planted anomalies each one finds and explains a spike by model and feature', async () => {
    await initTfBackend();
    const series = dailySeries(1600, 3);
    const train = sliceSeries(series, 0, 1000);
    const validation = sliceSeries(series, 1000, 1400);
    const features = { windowsPoints: [12, 60], diffLags: [1] };
    const forest = trainDetectorModel(train, validation, {
      features,
      forest: { trees: 50, seed: 2 },
      targetAnomalyRate: 0.005,
    });
    const lstm = await trainLstmForecaster(train.values, { windowPoints: 12, units: 4, epochs: 3, seed: 2 });

    const model = (await fitEnsembleModel(
      [
        { kind: 'isolation-forest', model: forest, weight: 1 },
        { kind: 'lstm', model: lstm.toJSON(), weight: 1 },
      ],
      train,
      validation,
      { features, targetAnomalyRate: 0.005 },
    )) as EnsembleDetectorModel;

    expect(model.schemaVersion).toBe(2);
    const weights = model.members.map((m) => m.weight);
    expect(weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    for (const m of model.members) {
      expect(m.plantedRecall).toBeGreaterThanOrEqual(0);
      expect(m.plantedRecall).toBeLessThanOrEqual(1);
      // Weight follows evidence: spec weight (equal here) times planted recall plus the floor.
      expect(m.weight).toBeCloseTo(
        (m.plantedRecall! + 0.05) / model.members.reduce((a, x) => a + x.plantedRecall! + 0.05, 0),
        10,
      );
    }

    const test = sliceSeries(series, 1340);
    const values = Float64Array.from(test.values);
    values[150] = values[150]! + 6;
    const scored = (await loadDetectorModel(model)).score({ ...test, values });
    expect(scored.flags[150]).toBe(true);
    const models = explainModels(scored, 150);
    expect(models.map((m) => m.kind).sort()).toEqual(['isolation-forest', 'lstm']);
    expect(models.reduce((a, m) => a + m.share, 0)).toBeCloseTo(1, 10);
    expect(models[0]!.share).toBeGreaterThanOrEqual(models[1]!.share);
    const flaggedShare = scored.flags.filter(Boolean).length / scored.flags.length;
    expect(flaggedShare).toBeLessThan(0.05);
  });

  it('raises no alarm on a metric that stayed flat until it moves, with a Prophet member', async () => {
    const flat = createSeries(
      'flat',
      Array.from({ length: 1200 }, (_, i) => 1_700_000_000_000 + i * 60_000),
      new Array(1200).fill(5),
    );
    const train = sliceSeries(flat, 0, 800);
    const validation = sliceSeries(flat, 800, 1000);
    const features = { windowsPoints: [12], diffLags: [1] };
    const forest = trainDetectorModel(train, validation, {
      features,
      forest: { trees: 20, seed: 1 },
      targetAnomalyRate: 0.01,
    });
    const prophet = ProphetModel.fit(train.timestampsMs, train.values);
    const model = await fitEnsembleModel(
      [
        { kind: 'isolation-forest', model: forest, weight: 1 },
        { kind: 'prophet', model: prophet.toJSON(), weight: 1 },
      ],
      train,
      validation,
      { features, targetAnomalyRate: 0.01 },
    );
    prophet.free();
    const loaded = await loadDetectorModel(model);
    const test = sliceSeries(flat, 1000);
    // Prophet's forecast of a constant drifts by rounding noise that grows with the horizon.
    expect(loaded.score(test).flags.filter(Boolean)).toHaveLength(0);
    const moved = Float64Array.from(test.values, (v, i) => (i === 100 ? v + 1 : v));
    expect(loaded.score({ ...test, values: moved }).flags[100]).toBe(true);
  });

  it('averages signed residuals into a forecast drift that scores 0 until its span is full', () => {
    const drift = forecastDrift([1, 1, 1, -1, -1, -1, -1, 0.5], 3);
    expect(Array.from(drift)).toEqual([0, 0, 1, 1 / 3, 1 / 3, 1, 1, 0.5]);
  });

  it('flags a sustained shift that stays inside the forecast band only with the forecast drift', async () => {
    const series = dailySeries(2000, 5);
    const train = sliceSeries(series, 0, 1200);
    const validation = sliceSeries(series, 1200, 1600);
    const features = { windowsPoints: [12], diffLags: [1] };
    const prophet = ProphetModel.fit(train.timestampsMs, train.values);
    const member = { kind: 'prophet' as const, model: prophet.toJSON(), weight: 1 };
    prophet.free();
    const ensemble = (forecastDriftPoints?: number) =>
      fitEnsembleModel([member], train, validation, {
        features,
        targetAnomalyRate: 0.005,
        ...(forecastDriftPoints !== undefined ? { forecastDriftPoints } : {}),
      }) as Promise<EnsembleDetectorModel>;
    const withDrift = await ensemble(48);
    const without = await ensemble();
    expect(withDrift.members.map((m) => m.kind)).toEqual(['prophet', 'forecast-drift']);
    expect(withDrift.members[1]).toMatchObject({ source: 'prophet', points: 48 });
    expect(without.members.map((m) => m.kind)).toEqual(['prophet']);

    // Most of a day one noise deviation high: half the band's half-width, so few points leave
    // the band, but every residual leans the same way.
    const test = sliceSeries(series, 1600);
    const values = Float64Array.from(test.values, (v, i) => (i >= 200 && i < 300 ? v + 0.3 : v));
    const shifted = { ...test, values };
    const scoredWith = (await loadDetectorModel(withDrift)).score(shifted);
    const scoredWithout = (await loadDetectorModel(without)).score(shifted);
    const flagged = (flags: boolean[], from: number, to: number) =>
      flags.slice(from, to).filter(Boolean).length;
    expect(flagged(scoredWithout.flags, 200, 300)).toBeLessThan(15);
    expect(flagged(scoredWith.flags, 200, 300)).toBeGreaterThan(50);
    const last = scoredWith.flags.lastIndexOf(true, 299);
    expect(explainModels(scoredWith, last)[0]!.kind).toBe('forecast-drift');
    // Not at the cost of alarms on normal data: the budget is 0.5% of 400 points.
    expect(flagged((await loadDetectorModel(withDrift)).score(test).flags, 0, 400)).toBeLessThanOrEqual(4);
  });

  it('explains a single-forest model by features only', async () => {
    const series = dailySeries(600, 4);
    const model = trainDetectorModel(sliceSeries(series, 0, 400), sliceSeries(series, 400, 500), {
      features: { windowsPoints: [12], diffLags: [1] },
      forest: { trees: 20 },
      targetAnomalyRate: 0.01,
    });
    const scored = (await loadDetectorModel(model)).score(sliceSeries(series, 500));
    expect(explainModels(scored, 10)).toEqual([]);
  });
});
