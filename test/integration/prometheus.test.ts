import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeFetch } from '../../clients/http.js';
import { createPrometheusClient, type PrometheusClient } from '../../clients/prometheus.js';
import { catalogueEntry, promqlCatalogue, renderQuery } from '../../clients/promql-catalogue.js';
import { type SimExporter, startSimExporter } from '../../sim/exporter.js';
import { findWorkload, sampleWorkload } from '../../sim/workloads.js';
import { type RunningServer, startPrometheus } from '../support/servers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const frontend = { namespace: 'shop', workload: 'frontend', kind: 'Deployment' } as const;

/** The simulator's mean over [fromMs, toMs], sampled every 250 ms. */
function simulatedMean(
  exporter: SimExporter,
  key: string,
  fromMs: number,
  toMs: number,
  pick: 'cpuCores' | 'requestsPerSecond',
) {
  const workload = findWorkload(key);
  let sum = 0;
  let n = 0;
  for (let t = fromMs; t <= toMs; t += 250) {
    sum += sampleWorkload(workload, t, exporter.cluster.seed, exporter.cluster.chaos())[pick];
    n++;
  }
  return sum / n;
}

describe('Prometheus client against a real Prometheus scraping the simulated cluster', () => {
  let exporter: SimExporter;
  let prometheus: RunningServer;
  let prom: PrometheusClient;

  beforeAll(async () => {
    exporter = await startSimExporter({ seed: 7 });
    prometheus = await startPrometheus({ scrapeTargets: [exporter.target], scrapeIntervalSeconds: 1 });
    prom = createPrometheusClient({ url: prometheus.url, requestTimeoutMs: 5_000 });

    // Twelve scrapes give a 10 s rate window full of samples.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const [count] = await prom.query({ query: 'count_over_time(up{job="sim"}[1m])' });
      if ((count?.value ?? 0) >= 12) return;
      await sleep(500);
    }
    throw new Error(`Prometheus did not scrape the simulator 12 times in 60 s:\n${prometheus.output()}`);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await exporter?.close();
  });

  it('reports ready', async () => {
    expect((await prom.health()).ready).toBe(true);
  });

  it('queries through the node:http transport used for TLS options', async () => {
    const viaNode = createPrometheusClient({ url: prometheus.url, fetch: createNodeFetch() });

    const [sample] = await viaNode.query({ query: 'up{job="sim"}' });

    expect(sample?.value).toBe(1);
  });

  it('reads CPU usage per workload with namespace and workload labels, matching the simulator', async () => {
    const endMs = Date.now();
    const query = renderQuery(catalogueEntry('cpu_usage_cores'), frontend, { window: '10s' });

    const series = await prom.queryRange({ query, startMs: endMs - 5_000, endMs, stepSeconds: 1 });

    expect(series).toHaveLength(1);
    expect(series[0]!.labels).toEqual({ namespace: 'shop', workload: 'frontend' });
    const lastT = series[0]!.timestampsMs.at(-1)!;
    const expected = simulatedMean(exporter, 'shop/frontend', lastT - 10_000, lastT, 'cpuCores');
    expect(series[0]!.values.at(-1)! / expected).toBeCloseTo(1, 1);
  });

  it('reads CPU usage against requests as the simulated usage over the summed requests', async () => {
    const endMs = Date.now();
    const query = renderQuery(catalogueEntry('cpu_usage_to_requests_ratio'), frontend, { window: '10s' });

    const [series] = await prom.queryRange({ query, startMs: endMs - 3_000, endMs, stepSeconds: 1 });

    const lastT = series!.timestampsMs.at(-1)!;
    const workload = findWorkload('shop/frontend');
    const expected =
      simulatedMean(exporter, 'shop/frontend', lastT - 10_000, lastT, 'cpuCores') /
      (workload.cpuRequestCores * workload.replicas);
    expect(series!.values.at(-1)! / expected).toBeCloseTo(1, 1);
  });

  it('reads the request rate of a statefulset through its pod names', async () => {
    const endMs = Date.now();
    const query = renderQuery(
      catalogueEntry('http_request_rate'),
      { namespace: 'batch', workload: 'reporter', kind: 'StatefulSet' },
      { window: '10s' },
    );

    const [series, ...others] = await prom.queryRange({
      query,
      startMs: endMs - 3_000,
      endMs,
      stepSeconds: 1,
    });

    expect(others).toEqual([]);
    expect(series!.labels).toEqual({ namespace: 'batch', workload: 'reporter' });
    const lastT = series!.timestampsMs.at(-1)!;
    const expected = simulatedMean(exporter, 'batch/reporter', lastT - 10_000, lastT, 'requestsPerSecond');
    expect(series!.values.at(-1)! / expected).toBeCloseTo(1, 1);
  });

  it('runs every catalogue query without a PromQL error', async () => {
    for (const entry of promqlCatalogue) {
      const samples = await prom.query({ query: renderQuery(entry, frontend, { window: '10s' }) });
      for (const sample of samples)
        expect(sample.labels).toMatchObject({ namespace: 'shop', workload: 'frontend' });
    }
  });

  it('rejects a malformed query without retrying and quotes Prometheus’s parse error', async () => {
    await expect(prom.query({ query: 'sum(rate(x[5m]' })).rejects.toThrow(
      /rejected query 'sum\(rate\(x\[5m\]' with HTTP 400: bad_data: .*unclosed left parenthesis/,
    );
  });

  it('shows a chaos cpu spike in the queried series', async () => {
    const query = renderQuery(catalogueEntry('cpu_usage_cores'), frontend, { window: '3s' });
    const before = await prom.query({ query });
    const baseline = before[0]!.value;

    const response = await fetch(
      `${exporter.url}/chaos/cpu-spike?workload=shop/frontend&minutes=1&factor=3`,
      {
        method: 'POST',
      },
    );
    expect(response.status).toBe(200);
    await sleep(8_000);
    const endMs = Date.now();
    const [series] = await prom.queryRange({ query, startMs: endMs - 4_000, endMs, stepSeconds: 1 });

    expect(Math.min(...series!.values)).toBeGreaterThan(1.8 * baseline);
  });
});
