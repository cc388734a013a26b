import { describe, expect, it } from 'vitest';
import { scoredSourceOf, sourceStepSeconds } from '../../activities/scoring.js';
import { parseDetectorSpec } from '../../ml/spec.js';
import { alertWaitOf } from '../../scripts/chaos.js';
import { simulatedWorkloadDetector } from '../../sim/live-detector.js';
import { backfillHistory, findWorkload, sampleWorkload } from '../../sim/workloads.js';

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
