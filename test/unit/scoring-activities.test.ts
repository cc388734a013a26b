import { MockActivityEnvironment } from '@temporalio/testing';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  type AlertSink,
  createScoringActivities,
  type FeatureDriftResult,
  type ScoreStepResult,
} from '../../activities/scoring.js';
import { createSourceReaders } from '../../activities/sources.js';
import { createDetectorMetrics } from '../../clients/metrics.js';
import {
  type AnyDetectorModel,
  type DetectorModel,
  fitEnsembleModel,
  trainDetectorModel,
} from '../../ml/detector-model.js';
import { ProphetModel } from '../../ml/models/prophet.js';
import { sliceSeries } from '../../ml/series.js';
import { parseDetectorSpec } from '../../ml/spec.js';
import type { ModelRegistry } from '../../registry/model-registry.js';
import type { ShadowLog, ShadowRecord } from '../../registry/shadow-log.js';
import { simulateSource } from '../../sim/source.js';

const END_MS = Date.UTC(2026, 1, 2);
const spec = parseDetectorSpec({
  name: 'shop',
  source: { kind: 'simulated', workload: 'shop/frontend', days: 3, stepSeconds: 300, seed: 3 },
  model: { trees: 30 },
});

function trainedModels(): Record<number, DetectorModel> {
  const series = simulateSource(spec.source as never, END_MS - 86_400_000);
  const cut = Math.floor(series.values.length * 0.7);
  const train = sliceSeries(series, 0, cut);
  const validation = sliceSeries(series, cut);
  const options = (seed: number) => ({
    features: spec.features,
    forest: { ...spec.model, seed },
    targetAnomalyRate: spec.targetAnomalyRate,
  });
  return {
    1: trainDetectorModel(train, validation, options(1)),
    2: trainDetectorModel(train, validation, options(2)),
  };
}

function setup(
  aliases: { champion?: number; challenger?: number },
  models: Record<number, AnyDetectorModel> = trainedModels(),
) {
  const loads: number[] = [];
  const registry = {
    getAlias: async (_detector: string, alias: 'champion' | 'challenger') => aliases[alias],
    getVersion: async (_detector: string, version: number) => {
      loads.push(version);
      return { meta: {}, model: models[version] };
    },
  } as unknown as ModelRegistry;
  const shadow: ShadowRecord[] = [];
  const shadowLog: ShadowLog = {
    append: async (_detector, record) => void shadow.push(record),
    summarize: async () => {
      throw new Error('not used');
    },
  };
  const alerts: unknown[] = [];
  const sink: AlertSink = {
    fire: async (alert) => alerts.push(['fire', alert]),
    resolve: async (identity) => alerts.push(['resolve', identity]),
  };
  const metricsRegistry = new Registry();
  const readers = createSourceReaders({ simulate: simulateSource });
  const windowStarts: number[] = [];
  const activities = createScoringActivities({
    registry,
    sources: {
      ...readers,
      readWindow: (source, startMs, endMs) => {
        windowStarts.push(startMs);
        return readers.readWindow(source, startMs, endMs);
      },
    },
    metrics: createDetectorMetrics(metricsRegistry),
    alerts: sink,
    shadowLog,
    now: () => END_MS + 30_000,
  });
  return { activities, loads, shadow, alerts, metricsRegistry, windowStarts };
}

describe('scoring activities', () => {
  it('scores every point after the last scored one, with the warm-up fetched before it', async () => {
    const { activities, metricsRegistry } = setup({ champion: 1 });

    const result: ScoreStepResult = await new MockActivityEnvironment().run(activities.scoreStep, {
      spec,
      afterMs: END_MS - 12 * 300_000,
      untilMs: END_MS,
    });

    expect(result).toMatchObject({ version: 1, points: 12, lastTimestampMs: END_MS });
    expect(result.shadowVersion).toBeUndefined();
    expect(result.scoreBins.reduce((a, b) => a + b, 0)).toBe(12);
    expect(result.topFeatures).toHaveLength(3);
    const exported = await metricsRegistry.getSingleMetricAsString('anomaly_detector_score');
    expect(exported).toContain(
      'detector="shop",namespace="shop",workload="frontend",metric="cpu_usage_cores"',
    );
  });

  it('scores the challenger in shadow beside the champion and records both', async () => {
    const { activities, shadow } = setup({ champion: 1, challenger: 2 });

    const result: ScoreStepResult = await new MockActivityEnvironment().run(activities.scoreStep, {
      spec,
      afterMs: END_MS - 6 * 300_000,
      untilMs: END_MS,
    });

    expect(result).toMatchObject({ version: 1, shadowVersion: 2, points: 6 });
    expect(shadow).toEqual([
      expect.objectContaining({ atMs: END_MS, championVersion: 1, challengerVersion: 2, points: 6 }),
    ]);
  });

  it('reads the history the shadow challenger needs when it needs more than the champion', async () => {
    const series = simulateSource(spec.source as never, END_MS - 86_400_000);
    const cut = Math.floor(series.values.length * 0.7);
    const train = sliceSeries(series, 0, cut);
    const validation = sliceSeries(series, cut);
    const prophet = ProphetModel.fit(train.timestampsMs, train.values);
    // A drift averaged over 100 points: more than the forest's 60-point rolling windows.
    const challenger = await fitEnsembleModel(
      [{ kind: 'prophet', model: prophet.toJSON(), weight: 1 }],
      train,
      validation,
      { features: spec.features, targetAnomalyRate: spec.targetAnomalyRate, forecastDriftPoints: 100 },
    );
    prophet.free();
    const { activities, windowStarts, shadow } = setup(
      { champion: 1, challenger: 2 },
      { 1: trainedModels()[1]!, 2: challenger },
    );
    const afterMs = END_MS - 6 * 300_000;

    await new MockActivityEnvironment().run(activities.scoreStep, { spec, afterMs, untilMs: END_MS });

    expect(windowStarts).toEqual([afterMs - 101 * 300_000]);
    expect(shadow).toEqual([expect.objectContaining({ challengerVersion: 2, points: 6 })]);
  });

  it('keeps a loaded model between steps and loads it again after a reload', async () => {
    const { activities, loads } = setup({ champion: 1 });
    const env = new MockActivityEnvironment();
    const step = (reload: boolean) =>
      env.run(activities.scoreStep, { spec, afterMs: END_MS - 300_000, untilMs: END_MS, reload });

    await step(false);
    await step(false);
    await step(true);

    expect(loads).toEqual([1, 1]);
  });

  it('forgets a champion once it is neither champion nor challenger any more', async () => {
    const aliases: { champion?: number; challenger?: number } = { champion: 1 };
    const { activities, loads } = setup(aliases);
    const env = new MockActivityEnvironment();
    const step = () => env.run(activities.scoreStep, { spec, afterMs: END_MS - 300_000, untilMs: END_MS });

    await step();
    aliases.champion = 2;
    await step();
    aliases.champion = 1;
    await step();

    // Version 1 was evicted when 2 took over, so the rollback loads it again.
    expect(loads).toEqual([1, 2, 1]);
  });

  it('scores nothing while the detector has no champion', async () => {
    const { activities } = setup({});

    const result: ScoreStepResult = await new MockActivityEnvironment().run(activities.scoreStep, {
      spec,
      afterMs: END_MS - 300_000,
      untilMs: END_MS,
    });

    expect(result).toMatchObject({ points: 0 });
    expect(result.version).toBeUndefined();
  });

  it('fires and resolves the alert under an identity taken from the spec alone', async () => {
    const { activities, alerts } = setup({ champion: 1 });
    const env = new MockActivityEnvironment();

    await env.run(activities.notifyAlert, { spec, action: 'fire' as const, score: 0.9995, threshold: 0.998 });
    await env.run(activities.notifyAlert, { spec, action: 'resolve' as const });

    const identity = { detector: 'shop', namespace: 'shop', workload: 'frontend', metric: 'cpu_usage_cores' };
    expect(alerts).toEqual([
      ['fire', { ...identity, score: 0.9995, threshold: 0.998, features: [] }],
      ['resolve', identity],
    ]);
  });
});

describe('checkFeatureDrift', () => {
  // Trained on Monday to Wednesday; the simulated cluster runs lower at weekends, so the days
  // compared with it are weekdays too.
  const thursday = Date.UTC(2026, 0, 22);
  const weekdayModel = (): Record<number, DetectorModel> => {
    const series = simulateSource(spec.source as never, thursday);
    const cut = Math.floor(series.values.length * 0.7);
    const options = { features: spec.features, forest: { ...spec.model, seed: 1 }, targetAnomalyRate: 0.01 };
    return { 1: trainDetectorModel(sliceSeries(series, 0, cut), sliceSeries(series, cut), options) };
  };
  const window = { version: 1, afterMs: thursday, untilMs: thursday + 86_400_000 };

  it('finds no drift in a day like the training days, and names the feature that moved when the data changes', async () => {
    const { activities } = setup({ champion: 1 }, weekdayModel());
    const env = new MockActivityEnvironment();

    const same: FeatureDriftResult = await env.run(activities.checkFeatureDrift, { spec, ...window });
    expect(same.points).toBe(288);
    expect(same.top.map((d) => d.feature).sort()).toEqual(['zscore_12', 'zscore_60']);
    expect(same.top[0]!.psi).toBeLessThan(0.25);

    // The same model reading a batch job's CPU, which comes in bursts the web workload never shows.
    const moved: FeatureDriftResult = await env.run(activities.checkFeatureDrift, {
      spec: { ...spec, source: { ...spec.source, workload: 'batch/reporter' } } as typeof spec,
      ...window,
    });
    expect(moved.top[0]).toMatchObject({ feature: 'zscore_60', psi: expect.any(Number) });
    expect(moved.top[0]!.psi).toBeGreaterThan(0.5);
  });

  it('reports nothing for a model stored before models kept their training distribution', async () => {
    const { featureDrift: _dropped, ...older } = weekdayModel()[1]!;
    const { activities } = setup({ champion: 1 }, { 1: older as DetectorModel });
    const result = await new MockActivityEnvironment().run(activities.checkFeatureDrift, { spec, ...window });
    expect(result).toEqual({ points: 0, top: [] });
  });
});
