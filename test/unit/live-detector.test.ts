import { describe, expect, it } from 'vitest';
import { scoredSourceOf, sourceStepSeconds } from '../../activities/scoring.js';
import { loadDetectorModel, trainDetectorModel } from '../../ml/detector-model.js';
import { sliceSeries } from '../../ml/series.js';
import { parseDetectorSpec } from '../../ml/spec.js';
import { alertWaitOf } from '../../scripts/chaos.js';
import { simulatedWorkloadDetector } from '../../sim/live-detector.js';
import { simulateSource } from '../../sim/source.js';
import { backfillHistory, type ChaosState, findWorkload, sampleWorkload } from '../../sim/workloads.js';
import { type AlertStreaks, alertStep } from '../../workflows/alert-rule.js';

const T0 = Date.UTC(2024, 0, 3, 12, 0, 0);

describe('simulatedWorkloadDetector', () => {
  it('trains on simulated history and scores the catalogue query with the same step and rate window', () => {
    const spec = parseDetectorSpec(
      simulatedWorkloadDetector({ name: 'cpu', prometheusUrl: 'http://127.0.0.1:9090' }),
    );

    expect(spec.source).toMatchObject({ kind: 'simulated', stepSeconds: 2, rateWindowSeconds: 10 });
    expect(scoredSourceOf(spec)).toMatchObject({
      kind: 'prometheus',
      url: 'http://127.0.0.1:9090',
      stepSeconds: 2,
    });
    expect(spec.scoring.source?.query).toContain('rate(container_cpu_usage_seconds_total{namespace="shop"');
    expect(spec.scoring.source?.query).toContain('[10s]');
    expect(sourceStepSeconds(spec)).toBe(2);
  });

  it('scores the simulated source itself when no Prometheus is given', () => {
    const spec = parseDetectorSpec(simulatedWorkloadDetector({ name: 'cpu' }));

    expect(scoredSourceOf(spec)).toBe(spec.source);
  });
});

describe('the live detector with its defaults', () => {
  const spec = parseDetectorSpec(simulatedWorkloadDetector({ name: 'cpu' }));
  const source = spec.source as Parameters<typeof simulateSource>[0];
  // Monday morning: the day after a weekend, whose lower traffic a short history would not
  // tell apart from the weekday's.
  const trainedUntil = Date.parse('2026-12-07T08:00:00Z');

  async function trained() {
    const history = simulateSource(source, trainedUntil);
    const n = history.values.length;
    const model = trainDetectorModel(
      sliceSeries(history, 0, Math.floor(n * 0.6)),
      sliceSeries(history, Math.floor(n * 0.6), Math.floor(n * 0.8)),
      { features: spec.features, forest: spec.model, targetAnomalyRate: spec.targetAnomalyRate },
    );
    return loadDetectorModel(model);
  }

  function live(fromMs: number, toMs: number, chaos?: ChaosState) {
    return backfillHistory({
      seed: source.seed,
      startMs: fromMs,
      endMs: toMs,
      stepMs: source.stepSeconds * 1000,
      workloads: [findWorkload(source.workload)],
      metrics: [source.metric],
      rateWindowMs: (source.rateWindowSeconds ?? 0) * 1000,
      ...(chaos ? { chaos } : {}),
    })[0]!;
  }

  /** Times of the alerts the scoring loop's rule raises on these flags, one step a point. */
  function alertTimes(flags: readonly boolean[], timestampsMs: Float64Array, fromMs: number): number[] {
    const fired: number[] = [];
    let streaks: AlertStreaks = { flaggedStreak: 0, cleanStreak: 0 };
    let open = false;
    for (let i = 0; i < flags.length; i++) {
      if (timestampsMs[i]! < fromMs) continue;
      const step = alertStep(streaks, open, flags[i]!, spec.scoring);
      streaks = step;
      if (step.transition === 'fire') fired.push(timestampsMs[i]!);
      if (step.transition) open = step.transition === 'fire';
    }
    return fired;
  }

  it('stays quiet through six hours of normal Monday traffic and pages once for a short CPU spike', async () => {
    const detector = await trained();

    // A minute of context before the first scored point fills the rolling windows.
    const quiet = live(trainedUntil - 60_000, trainedUntil + 6 * 3_600_000);
    const quietAlerts = alertTimes(detector.score(quiet).flags, quiet.timestampsMs, trainedUntil);
    expect(quietAlerts.length).toBeLessThanOrEqual(1);

    const spikeAt = trainedUntil + 3 * 3_600_000;
    const spiked = live(spikeAt - 300_000, spikeAt + 300_000, {
      cpuSpikes: [{ workload: source.workload, startMs: spikeAt, endMs: spikeAt + 10_000, factor: 3 }],
      memoryLeaks: [],
    });
    const spikeAlerts = alertTimes(detector.score(spiked).flags, spiked.timestampsMs, spikeAt - 240_000);
    expect(spikeAlerts).toHaveLength(1);
    expect(spikeAlerts[0]! - spikeAt).toBeGreaterThanOrEqual(0);
    expect(spikeAlerts[0]! - spikeAt).toBeLessThanOrEqual(15_000);
  }, 60_000);
});

describe('backfillHistory with a rate window', () => {
  it('averages CPU over the window before each point and leaves memory at its instant value', () => {
    const frontend = findWorkload('shop/frontend');
    const series = backfillHistory({
      seed: 3,
      startMs: T0,
      endMs: T0,
      stepMs: 1000,
      workloads: [frontend],
      metrics: ['cpu_usage_cores', 'memory_working_set_bytes'],
      rateWindowMs: 10_000,
    });
    let cpu = 0;
    for (let k = 0; k < 10; k++) cpu += sampleWorkload(frontend, T0 - 10_000 + (k + 0.5) * 1000, 3).cpuCores;

    expect(series[0]!.values[0]).toBeCloseTo(cpu / 10, 12);
    expect(series[1]!.values[0]).toBe(sampleWorkload(frontend, T0, 3).memoryBytes);
  });
});

describe('alertWaitOf', () => {
  it('asks Alertmanager for the anomaly alerts of the spiked workload', () => {
    const wait = alertWaitOf(['cpu-spike', '--workload', 'shop/checkout', '--wait-seconds', '20'], {});

    expect(wait?.timeoutMs).toBe(20_000);
    expect(decodeURIComponent(wait!.url)).toBe(
      'http://127.0.0.1:9093/api/v2/alerts?filter=alertname="WorkloadAnomaly"&filter=namespace="shop"&filter=workload="checkout"',
    );
  });

  it('does not wait after other chaos or when told not to', () => {
    expect(alertWaitOf(['clear'], {})).toBeUndefined();
    expect(alertWaitOf(['cpu-spike', '--wait-seconds', '0'], {})).toBeUndefined();
  });
});
