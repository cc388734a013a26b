import { describe, expect, it } from 'vitest';
import {
  type EnsembleDetectorModel,
  explainModels,
  fitEnsembleModel,
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
