import { describe, expect, it } from 'vitest';
import { chaosCommand } from '../../scripts/chaos.js';
import { createSimCluster } from '../../sim/exporter.js';
import { backfillHistory, defaultWorkloads, findWorkload, sampleWorkload } from '../../sim/workloads.js';

const T0 = Date.UTC(2024, 0, 3, 0, 0, 0); // a Wednesday

describe('sampleWorkload', () => {
  it('is a pure function of workload, time and seed', () => {
    const frontend = findWorkload('shop/frontend');

    expect(sampleWorkload(frontend, T0 + 1234, 5)).toEqual(sampleWorkload(frontend, T0 + 1234, 5));
    expect(sampleWorkload(frontend, T0, 5).cpuCores).not.toBe(sampleWorkload(frontend, T0, 6).cpuCores);
  });

  it('follows the daily pattern: more traffic at the peak hour than twelve hours later', () => {
    const frontend = findWorkload('shop/frontend');
    const atPeak = sampleWorkload(frontend, T0 + 14 * 3_600_000, 1).requestsPerSecond;
    const offPeak = sampleWorkload(frontend, T0 + 2 * 3_600_000, 1).requestsPerSecond;

    expect(atPeak / offPeak).toBeGreaterThan(3);
  });

  it('multiplies CPU during a spike, caps it at the limit, and throttles near the limit', () => {
    const frontend = findWorkload('shop/frontend');
    const spikeAt = (t: number) => ({
      cpuSpikes: [{ workload: 'shop/frontend', startMs: t - 1, endMs: t + 60_000, factor: 3 }],
      memoryLeaks: [],
    });
    const night = T0 + 3 * 3_600_000;
    const peak = T0 + 14 * 3_600_000;

    const calmNight = sampleWorkload(frontend, night, 1);
    const spikedNight = sampleWorkload(frontend, night, 1, spikeAt(night));
    const spikedPeak = sampleWorkload(frontend, peak, 1, spikeAt(peak));

    expect(spikedNight.cpuCores / calmNight.cpuCores).toBeCloseTo(3, 5);
    expect(spikedPeak.cpuCores).toBe(frontend.cpuLimitCores * frontend.replicas);
    expect(calmNight.throttledRatio).toBe(0);
    expect(spikedPeak.throttledRatio).toBeGreaterThan(0.5);
  });

  it('grows memory during a leak and restarts the pods when it reaches the limit', () => {
    const checkout = findWorkload('shop/checkout');
    const leak = {
      workload: 'shop/checkout',
      startMs: T0,
      endMs: T0 + 3_600_000,
      bytesPerMinute: 100 * 1024 ** 2,
    };
    const chaos = { cpuSpikes: [], memoryLeaks: [leak] };

    const early = sampleWorkload(checkout, T0 + 60_000, 1, chaos);
    const later = sampleWorkload(checkout, T0 + 5 * 60_000, 1, chaos);
    const afterOom = sampleWorkload(checkout, T0 + 12 * 60_000, 1, chaos);

    expect(later.memoryBytes - early.memoryBytes).toBeCloseTo(400 * 1024 ** 2, -7);
    expect(early.leakRestarts).toBe(0);
    expect(afterOom.leakRestarts).toBe(checkout.replicas);
    expect(afterOom.memoryBytes).toBeLessThan(checkout.memoryLimitBytes * checkout.replicas);
  });
});

describe('backfillHistory', () => {
  it('produces one series per workload and metric on step-aligned timestamps', () => {
    const series = backfillHistory({ seed: 1, startMs: T0 + 10, endMs: T0 + 3_600_000, stepMs: 60_000 });

    expect(series).toHaveLength(defaultWorkloads.length * 6);
    const cpu = series.find(
      (s) => s.labels.workload === 'frontend' && s.labels.metric === 'cpu_usage_cores',
    )!;
    expect(cpu.timestampsMs[0]).toBe(T0 + 60_000);
    expect(cpu.timestampsMs.length).toBe(60);
    expect(cpu.name).toBe('cpu_usage_cores{namespace="shop",workload="frontend"}');
    expect(cpu.values[10]).toBe(sampleWorkload(findWorkload('shop/frontend'), T0 + 11 * 60_000, 1).cpuCores);
  });
});

describe('createSimCluster', () => {
  it('integrates the CPU counter from the simulated rate between scrapes', () => {
    let t = T0 + 14 * 3_600_000;
    const cluster = createSimCluster({ seed: 2, now: () => t });
    const counter = (text: string) =>
      [
        ...text.matchAll(
          /^container_cpu_usage_seconds_total\{namespace="shop",pod="frontend-[^}]*\} (\S+)$/gm,
        ),
      ].reduce((sum, match) => sum + Number(match[1]), 0);

    const first = counter(cluster.scrape());
    t += 60_000;
    const second = counter(cluster.scrape());

    let expected = 0;
    for (let s = 0; s < 60; s++)
      expected += sampleWorkload(findWorkload('shop/frontend'), t - 60_000 + s * 1000 + 500, 2).cpuCores;
    expect(first).toBe(0);
    expect(second).toBeCloseTo(expected, 6);
  });

  it('exposes Kubernetes-style series with help and type lines', () => {
    const text = createSimCluster({ now: () => T0 }).scrape();

    for (const name of [
      'container_cpu_usage_seconds_total',
      'container_memory_working_set_bytes',
      'kube_pod_container_resource_requests',
      'kube_pod_container_status_restarts_total',
      'http_requests_total',
      'http_request_duration_seconds',
    ]) {
      expect(text).toContain(`# HELP ${name} `);
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toContain(
      'kube_pod_container_resource_requests{namespace="batch",pod="reporter-0",container="reporter",node="sim-node-1",resource="cpu",unit="core"} 1',
    );
  });

  it('keeps the restart counter after chaos is cleared', () => {
    let t = T0;
    const cluster = createSimCluster({ now: () => t });
    const restarts = () =>
      [
        ...cluster
          .scrape()
          .matchAll(
            /^kube_pod_container_status_restarts_total\{namespace="shop",pod="checkout-[^}]*\} (\S+)$/gm,
          ),
      ].reduce((sum, match) => sum + Number(match[1]), 0);
    cluster.memoryLeak({ workload: 'shop/checkout', mebibytesPerMinute: 500 });

    t += 5 * 60_000;
    const during = restarts();
    cluster.clearChaos();
    t += 60_000;

    expect(during).toBeGreaterThan(0);
    expect(restarts()).toBe(during);
  });

  it('names an unknown workload in a chaos request', () => {
    expect(() => createSimCluster().cpuSpike({ workload: 'shop/nope' })).toThrow(
      "workload 'shop/nope' is not simulated",
    );
  });
});

describe('chaosCommand', () => {
  it('builds the exporter URL of a cpu spike from the arguments', () => {
    expect(
      chaosCommand(
        [
          'cpu-spike',
          '--workload',
          'batch/reporter',
          '--minutes',
          '5',
          '--exporter',
          'http://127.0.0.1:9200/',
        ],
        {},
      ),
    ).toEqual({
      action: 'cpu-spike',
      url: 'http://127.0.0.1:9200/chaos/cpu-spike?workload=batch%2Freporter&minutes=5',
    });
  });

  it('defaults the exporter to SIM_EXPORTER_URL and clears without parameters', () => {
    expect(chaosCommand(['clear'], { SIM_EXPORTER_URL: 'http://127.0.0.1:9300' }).url).toBe(
      'http://127.0.0.1:9300/chaos/clear',
    );
  });

  it('rejects an unknown action, listing the known ones', () => {
    expect(() => chaosCommand(['explode'], {})).toThrow(
      "action 'explode' must be one of cpu-spike, memory-leak, clear",
    );
  });
});
