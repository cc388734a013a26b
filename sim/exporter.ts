/**
 * Serves the simulated cluster as a Prometheus target, with series named and labelled like
 * cAdvisor, kube-state-metrics and common HTTP instrumentation, plus endpoints to inject chaos.
 *
 *   npx tsx sim/exporter.ts [--port 9105] [--seed 1]
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import {
  type ChaosState,
  type CpuSpike,
  defaultWorkloads,
  findWorkload,
  type MemoryLeak,
  type SimWorkload,
  sampleWorkload,
  workloadKey,
} from './workloads.js';

export interface SimClusterOptions {
  /** @default 1 */
  readonly seed?: number;
  readonly workloads?: readonly SimWorkload[];
  readonly now?: () => number;
}

export interface CpuSpikeInput {
  readonly workload: string;
  /** @default 10 */
  readonly minutes?: number;
  /** @default 3 */
  readonly factor?: number;
}

export interface MemoryLeakInput {
  readonly workload: string;
  /** @default 30 */
  readonly minutes?: number;
  /** @default 100 */
  readonly mebibytesPerMinute?: number;
}

/** The live, stateful side of the simulation: counters integrated from the rates of `sampleWorkload`. */
export interface SimCluster {
  readonly seed: number;
  readonly workloads: readonly SimWorkload[];
  chaos(): ChaosState;
  cpuSpike(input: CpuSpikeInput): CpuSpike;
  memoryLeak(input: MemoryLeakInput): MemoryLeak;
  clearChaos(): void;
  /** Advances the counters to now and renders the Prometheus text exposition. */
  scrape(): string;
}

/** Latency histogram bucket bounds, in seconds, as client libraries default them. */
export const LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** The CFS period is 100 ms: ten periods a second for a container with a CPU limit. */
const CFS_PERIODS_PER_SECOND = 10;
const INTEGRATION_STEP_MS = 1_000;
const MAX_INTEGRATION_STEPS = 10_000;

interface Counters {
  lastMs: number;
  cpuSeconds: number;
  requestsOk: number;
  requestsError: number;
  latencySum: number;
  /** Cumulative counts per bucket of LATENCY_BUCKETS_SECONDS, then +Inf. */
  latencyBuckets: number[];
  cfsPeriods: number;
  cfsThrottled: number;
  /** Restarts from leaks that chaos has since cleared, so the counter never goes down. */
  restartsCarried: number;
}

export function createSimCluster(options: SimClusterOptions = {}): SimCluster {
  const seed = options.seed ?? 1;
  const workloads = options.workloads ?? defaultWorkloads;
  const now = options.now ?? Date.now;
  let cpuSpikes: CpuSpike[] = [];
  let memoryLeaks: MemoryLeak[] = [];
  const startMs = now();
  const counters = new Map<string, Counters>(
    workloads.map((workload) => [
      workloadKey(workload),
      {
        lastMs: startMs,
        cpuSeconds: 0,
        requestsOk: 0,
        requestsError: 0,
        latencySum: 0,
        latencyBuckets: new Array(LATENCY_BUCKETS_SECONDS.length + 1).fill(0),
        cfsPeriods: 0,
        cfsThrottled: 0,
        restartsCarried: 0,
      },
    ]),
  );
  const chaos = (): ChaosState => ({ cpuSpikes, memoryLeaks });

  function advance(workload: SimWorkload, state: Counters, toMs: number): void {
    const spanMs = toMs - state.lastMs;
    if (spanMs <= 0) return;
    const steps = Math.min(MAX_INTEGRATION_STEPS, Math.ceil(spanMs / INTEGRATION_STEP_MS));
    const dtMs = spanMs / steps;
    for (let i = 0; i < steps; i++) {
      // Midpoint rule: the rate halfway through each sub-step.
      const sample = sampleWorkload(workload, state.lastMs + (i + 0.5) * dtMs, seed, chaos());
      const dt = dtMs / 1000;
      state.cpuSeconds += sample.cpuCores * dt;
      const requests = sample.requestsPerSecond * dt;
      state.requestsError += requests * sample.errorRatio;
      state.requestsOk += requests * (1 - sample.errorRatio);
      // Durations are exponential with the sample's p99: mean = p99 / ln(100).
      const meanSeconds = sample.latencyP99Seconds / Math.log(100);
      state.latencySum += requests * meanSeconds;
      LATENCY_BUCKETS_SECONDS.forEach((le, b) => {
        state.latencyBuckets[b]! += requests * (1 - Math.exp(-le / meanSeconds));
      });
      state.latencyBuckets[LATENCY_BUCKETS_SECONDS.length]! += requests;
      const periods = CFS_PERIODS_PER_SECOND * workload.replicas * dt;
      state.cfsPeriods += periods;
      state.cfsThrottled += periods * sample.throttledRatio;
    }
    state.lastMs = toMs;
  }

  function scrape(): string {
    const t = now();
    const out = new Exposition();
    for (const workload of workloads) {
      const state = counters.get(workloadKey(workload))!;
      advance(workload, state, t);
      const sample = sampleWorkload(workload, t, seed, chaos());
      const restarts = state.restartsCarried + sample.leakRestarts;
      const pods = podNames(workload);
      const n = pods.length;
      for (const pod of pods) {
        const c = { namespace: workload.namespace, pod, container: workload.container };
        const cadvisor = {
          ...c,
          image: `registry.local/${workload.name}:1.0`,
          name: `k8s_${workload.container}_${pod}`,
        };
        out.add(
          'container_cpu_usage_seconds_total',
          'counter',
          'Cumulative cpu time consumed in seconds.',
          cadvisor,
          state.cpuSeconds / n,
        );
        out.add(
          'container_memory_working_set_bytes',
          'gauge',
          'Current working set in bytes.',
          cadvisor,
          sample.memoryBytes / n,
        );
        out.add(
          'container_cpu_cfs_periods_total',
          'counter',
          'Number of elapsed enforcement period intervals.',
          cadvisor,
          state.cfsPeriods / n,
        );
        out.add(
          'container_cpu_cfs_throttled_periods_total',
          'counter',
          'Number of throttled period intervals.',
          cadvisor,
          state.cfsThrottled / n,
        );
        const requestsHelp = 'The number of requested resource by a container.';
        out.add(
          'kube_pod_container_resource_requests',
          'gauge',
          requestsHelp,
          { ...c, node: 'sim-node-1', resource: 'cpu', unit: 'core' },
          workload.cpuRequestCores,
        );
        out.add(
          'kube_pod_container_resource_requests',
          'gauge',
          requestsHelp,
          { ...c, node: 'sim-node-1', resource: 'memory', unit: 'byte' },
          workload.memoryRequestBytes,
        );
        const limitsHelp = 'The number of requested limit resource by a container.';
        out.add(
          'kube_pod_container_resource_limits',
          'gauge',
          limitsHelp,
          { ...c, node: 'sim-node-1', resource: 'cpu', unit: 'core' },
          workload.cpuLimitCores,
        );
        out.add(
          'kube_pod_container_resource_limits',
          'gauge',
          limitsHelp,
          { ...c, node: 'sim-node-1', resource: 'memory', unit: 'byte' },
          workload.memoryLimitBytes,
        );
        // Spread restarts over pods so that the sum over pods is the workload total.
        const podIndex = pods.indexOf(pod);
        const podRestarts = Math.floor(restarts / n) + (podIndex < restarts % n ? 1 : 0);
        out.add(
          'kube_pod_container_status_restarts_total',
          'counter',
          'The number of container restarts per container.',
          c,
          podRestarts,
        );
        const app = { namespace: workload.namespace, pod, job: `${workload.namespace}/${workload.name}` };
        out.add(
          'http_requests_total',
          'counter',
          'Total HTTP requests.',
          { ...app, method: 'GET', code: '200' },
          state.requestsOk / n,
        );
        out.add(
          'http_requests_total',
          'counter',
          'Total HTTP requests.',
          { ...app, method: 'GET', code: '500' },
          state.requestsError / n,
        );
        const latencyHelp = 'HTTP request duration in seconds.';
        LATENCY_BUCKETS_SECONDS.forEach((le, b) => {
          out.add(
            'http_request_duration_seconds',
            'histogram',
            latencyHelp,
            { ...app, le: String(le) },
            state.latencyBuckets[b]! / n,
            '_bucket',
          );
        });
        out.add(
          'http_request_duration_seconds',
          'histogram',
          latencyHelp,
          { ...app, le: '+Inf' },
          state.latencyBuckets.at(-1)! / n,
          '_bucket',
        );
        out.add('http_request_duration_seconds', 'histogram', latencyHelp, app, state.latencySum / n, '_sum');
        out.add(
          'http_request_duration_seconds',
          'histogram',
          latencyHelp,
          app,
          state.latencyBuckets.at(-1)! / n,
          '_count',
        );
      }
    }
    return out.text();
  }

  return {
    seed,
    workloads,
    chaos,
    cpuSpike(input) {
      const key = workloadKey(findWorkload(input.workload, workloads));
      const minutes = positive('minutes', input.minutes ?? 10);
      const spike = {
        workload: key,
        startMs: now(),
        endMs: now() + minutes * 60_000,
        factor: positive('factor', input.factor ?? 3),
      };
      cpuSpikes = [...cpuSpikes, spike];
      return spike;
    },
    memoryLeak(input) {
      const key = workloadKey(findWorkload(input.workload, workloads));
      const minutes = positive('minutes', input.minutes ?? 30);
      const bytesPerMinute = positive('mebibytesPerMinute', input.mebibytesPerMinute ?? 100) * 1024 ** 2;
      const leak = { workload: key, startMs: now(), endMs: now() + minutes * 60_000, bytesPerMinute };
      memoryLeaks = [...memoryLeaks, leak];
      return leak;
    },
    clearChaos() {
      const t = now();
      for (const workload of workloads) {
        const state = counters.get(workloadKey(workload))!;
        advance(workload, state, t);
        state.restartsCarried += sampleWorkload(workload, t, seed, chaos()).leakRestarts;
      }
      cpuSpikes = [];
      memoryLeaks = [];
    },
    scrape,
  };
}

/** Pod names as controllers make them: `<name>-<hash>-<suffix>` for Deployments, `<name>-<n>` for StatefulSets. */
export function podNames(workload: SimWorkload): string[] {
  return Array.from({ length: workload.replicas }, (_, i) =>
    workload.kind === 'StatefulSet'
      ? `${workload.name}-${i}`
      : `${workload.name}-7d9f8b6c4d-${POD_SUFFIXES[i % POD_SUFFIXES.length]}${i >= POD_SUFFIXES.length ? i : ''}`,
  );
}

const POD_SUFFIXES = ['x2k9p', 'b7wq4', 'm3n8c', 'q9z2f', 't5v6h'];

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value))
    throw new Error(`'${name}' (${value}) must be a positive number`);
  return value;
}

class Exposition {
  private readonly families = new Map<string, { type: string; help: string; lines: string[] }>();

  add(
    name: string,
    type: string,
    help: string,
    labels: Record<string, string>,
    value: number,
    suffix = '',
  ): void {
    let family = this.families.get(name);
    if (family === undefined) {
      family = { type, help, lines: [] };
      this.families.set(name, family);
    }
    const pairs = Object.entries(labels).map(
      ([key, v]) => `${key}="${v.replace(/[\\"\n]/g, (ch) => (ch === '\n' ? '\\n' : `\\${ch}`))}"`,
    );
    family.lines.push(`${name}${suffix}{${pairs.join(',')}} ${value}`);
  }

  text(): string {
    const parts: string[] = [];
    for (const [name, family] of this.families) {
      parts.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`, ...family.lines);
    }
    return `${parts.join('\n')}\n`;
  }
}

export interface SimExporterOptions extends SimClusterOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0, a free port */
  readonly port?: number;
}

export interface SimExporter {
  readonly cluster: SimCluster;
  /** `http://host:port`. */
  readonly url: string;
  /** `host:port`, as a Prometheus scrape target. */
  readonly target: string;
  close(): Promise<void>;
}

export async function startSimExporter(options: SimExporterOptions = {}): Promise<SimExporter> {
  const cluster = createSimCluster(options);
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    try {
      if (request.method === 'GET' && url.pathname === '/metrics') {
        response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        response.end(cluster.scrape());
        return;
      }
      if (request.method === 'GET' && (url.pathname === '/-/healthy' || url.pathname === '/-/ready')) {
        return reply(200, { status: 'ok' });
      }
      if (request.method === 'GET' && url.pathname === '/chaos') return reply(200, cluster.chaos());
      if (request.method === 'POST' && url.pathname === '/chaos/cpu-spike') {
        return reply(
          200,
          cluster.cpuSpike({ workload: required(url, 'workload'), ...numbers(url, 'minutes', 'factor') }),
        );
      }
      if (request.method === 'POST' && url.pathname === '/chaos/memory-leak') {
        return reply(
          200,
          cluster.memoryLeak({
            workload: required(url, 'workload'),
            ...numbers(url, 'minutes', 'mebibytesPerMinute'),
          }),
        );
      }
      if (request.method === 'POST' && url.pathname === '/chaos/clear') {
        cluster.clearChaos();
        return reply(200, cluster.chaos());
      }
      reply(404, { error: `no route for ${request.method} ${url.pathname}` });
    } catch (error) {
      reply(400, { error: error instanceof Error ? error.message : String(error) });
    }
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    cluster,
    url: `http://${host}:${port}`,
    target: `${host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function required(url: URL, name: string): string {
  const value = url.searchParams.get(name);
  if (value === null || value === '')
    throw new Error(`query parameter '${name}' is required, e.g. ?${name}=shop/frontend`);
  return value;
}

function numbers(url: URL, ...names: string[]): Record<string, number> {
  const result: Record<string, number> = {};
  for (const name of names) {
    const raw = url.searchParams.get(name);
    if (raw === null) continue;
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new Error(`query parameter '${name}' ('${raw}') must be a number`);
    result[name] = value;
  }
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (flag: string) => {
    const i = process.argv.indexOf(flag);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const exporter = await startSimExporter({
    port: Number(arg('--port') ?? 9105),
    seed: Number(arg('--seed') ?? 1),
  });
  console.log(`simulated cluster exporter on ${exporter.url}/metrics`);
  const stop = () => void exporter.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
