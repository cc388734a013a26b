/**
 * A simulated cluster: a few workloads whose CPU, memory, traffic, latency and errors follow daily
 * and weekly patterns with noise. Every value is a pure function of (workload, time, seed, chaos),
 * so history for any past range is produced instantly and a live exporter agrees with it.
 */
import { createSeries, type Series } from '../ml/series.js';

export type SimWorkloadKind = 'Deployment' | 'StatefulSet';

export interface SimWorkload {
  readonly namespace: string;
  readonly name: string;
  readonly kind: SimWorkloadKind;
  readonly replicas: number;
  readonly container: string;
  /** Per pod. */
  readonly cpuRequestCores: number;
  readonly cpuLimitCores: number;
  readonly memoryRequestBytes: number;
  readonly memoryLimitBytes: number;
  /** Mean requests per second over a weekday, for the whole workload. */
  readonly baseRequestsPerSecond: number;
  /** Whole workload, with no traffic. */
  readonly idleCpuCores: number;
  readonly cpuCoresPerRequestPerSecond: number;
  /** Whole workload. */
  readonly baseMemoryBytes: number;
  readonly baseLatencySeconds: number;
  readonly baseErrorRatio: number;
  /** Relative swing of traffic over a day, 0 to 1. */
  readonly dailyAmplitude: number;
  /** Hour (UTC) when traffic peaks. */
  readonly peakHourUtc: number;
  /** Traffic on Saturday and Sunday relative to weekdays. */
  readonly weekendFactor: number;
  /** A nightly job that adds CPU for a while, for batch workloads. */
  readonly nightlyJob?: { readonly startHourUtc: number; readonly hours: number; readonly cpuCores: number };
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export const defaultWorkloads: readonly SimWorkload[] = [
  {
    namespace: 'shop',
    name: 'frontend',
    kind: 'Deployment',
    replicas: 3,
    container: 'frontend',
    cpuRequestCores: 0.5,
    cpuLimitCores: 1,
    memoryRequestBytes: 256 * MiB,
    memoryLimitBytes: 512 * MiB,
    baseRequestsPerSecond: 120,
    idleCpuCores: 0.15,
    cpuCoresPerRequestPerSecond: 0.006,
    baseMemoryBytes: 600 * MiB,
    baseLatencySeconds: 0.08,
    baseErrorRatio: 0.002,
    dailyAmplitude: 0.6,
    peakHourUtc: 14,
    weekendFactor: 0.7,
  },
  {
    namespace: 'shop',
    name: 'checkout',
    kind: 'Deployment',
    replicas: 2,
    container: 'checkout',
    cpuRequestCores: 0.25,
    cpuLimitCores: 0.5,
    memoryRequestBytes: 384 * MiB,
    memoryLimitBytes: 768 * MiB,
    baseRequestsPerSecond: 15,
    idleCpuCores: 0.05,
    cpuCoresPerRequestPerSecond: 0.012,
    baseMemoryBytes: 700 * MiB,
    baseLatencySeconds: 0.2,
    baseErrorRatio: 0.005,
    dailyAmplitude: 0.7,
    peakHourUtc: 19,
    weekendFactor: 1.3,
  },
  {
    namespace: 'batch',
    name: 'reporter',
    kind: 'StatefulSet',
    replicas: 1,
    container: 'reporter',
    cpuRequestCores: 1,
    cpuLimitCores: 2,
    memoryRequestBytes: 1 * GiB,
    memoryLimitBytes: 2 * GiB,
    baseRequestsPerSecond: 2,
    idleCpuCores: 0.1,
    cpuCoresPerRequestPerSecond: 0.01,
    baseMemoryBytes: 800 * MiB,
    baseLatencySeconds: 0.5,
    baseErrorRatio: 0.001,
    dailyAmplitude: 0.2,
    peakHourUtc: 9,
    weekendFactor: 0.5,
    nightlyJob: { startHourUtc: 2, hours: 1, cpuCores: 1.2 },
  },
];

export interface CpuSpike {
  /** `namespace/name`. */
  readonly workload: string;
  readonly startMs: number;
  readonly endMs: number;
  /** CPU is multiplied by this while the spike lasts. */
  readonly factor: number;
}

export interface MemoryLeak {
  readonly workload: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly bytesPerMinute: number;
}

export interface ChaosState {
  readonly cpuSpikes: readonly CpuSpike[];
  readonly memoryLeaks: readonly MemoryLeak[];
}

export const noChaos: ChaosState = { cpuSpikes: [], memoryLeaks: [] };

/** Everything a workload does at one instant, summed over its pods. */
export interface WorkloadSample {
  readonly cpuCores: number;
  readonly memoryBytes: number;
  readonly requestsPerSecond: number;
  readonly latencyP99Seconds: number;
  readonly errorRatio: number;
  /** Share of CFS periods throttled, from how close CPU runs to the limit. */
  readonly throttledRatio: number;
  /** Containers OOM-killed by memory leaks so far (the restarts a leak has caused). */
  readonly leakRestarts: number;
}

export function workloadKey(workload: Pick<SimWorkload, 'namespace' | 'name'>): string {
  return `${workload.namespace}/${workload.name}`;
}

export function findWorkload(key: string, workloads: readonly SimWorkload[] = defaultWorkloads): SimWorkload {
  const found = workloads.find((workload) => workloadKey(workload) === key);
  if (found === undefined) {
    throw new Error(`workload '${key}' is not simulated; known: ${workloads.map(workloadKey).join(', ')}`);
  }
  return found;
}

/** The noise resolution: values are constant within a bucket, so any two samplers agree. */
export const NOISE_BUCKET_MS = 5_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Traffic relative to the weekday mean, without noise: daily wave times the weekend factor. */
export function trafficShape(workload: SimWorkload, tMs: number): number {
  const hour = (((tMs % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS;
  const daily = 1 + workload.dailyAmplitude * Math.cos((2 * Math.PI * (hour - workload.peakHourUtc)) / 24);
  // 1970-01-01 was a Thursday: day 2 and 3 of each week (from Thursday) are Saturday and Sunday.
  const weekday = Math.floor(tMs / DAY_MS) % 7;
  const weekly = weekday === 2 || weekday === 3 ? workload.weekendFactor : 1;
  return daily * weekly;
}

export function sampleWorkload(
  workload: SimWorkload,
  tMs: number,
  seed: number,
  chaos: ChaosState = noChaos,
): WorkloadSample {
  const key = workloadKey(workload);
  const bucket = Math.floor(tMs / NOISE_BUCKET_MS);
  const noise = (channel: number) => gaussian(seed, key, channel, bucket);

  const requestsPerSecond = Math.max(
    0,
    workload.baseRequestsPerSecond * trafficShape(workload, tMs) * (1 + 0.05 * noise(1)),
  );

  let cpuCores =
    (workload.idleCpuCores + workload.cpuCoresPerRequestPerSecond * requestsPerSecond) *
      (1 + 0.04 * noise(2)) +
    nightlyJobCores(workload, tMs);
  let spikeFactor = 1;
  for (const spike of chaos.cpuSpikes) {
    if (spike.workload === key && tMs >= spike.startMs && tMs < spike.endMs) spikeFactor *= spike.factor;
  }
  cpuCores = Math.max(0, cpuCores * spikeFactor);
  const cpuLimit = workload.cpuLimitCores * workload.replicas;
  const usedShare = cpuCores / cpuLimit;
  cpuCores = Math.min(cpuCores, cpuLimit);

  const baseMemory =
    workload.baseMemoryBytes * (1 + 0.03 * Math.sin((2 * Math.PI * tMs) / DAY_MS) + 0.01 * noise(3));
  const memoryLimit = workload.memoryLimitBytes * workload.replicas;
  let memoryBytes = baseMemory;
  let leakRestarts = 0;
  for (const leak of chaos.memoryLeaks) {
    if (leak.workload !== key || tMs < leak.startMs) continue;
    const leakedBytes = (leak.bytesPerMinute * (Math.min(tMs, leak.endMs) - leak.startMs)) / 60_000;
    const headroom = Math.max(1, memoryLimit - baseMemory);
    // Reaching the limit OOM-kills the containers, which restart with their base memory.
    leakRestarts += Math.floor(leakedBytes / headroom) * workload.replicas;
    if (tMs < leak.endMs) memoryBytes += leakedBytes % headroom;
  }

  const throttledRatio = clamp01((usedShare - 0.7) / 0.6);
  const latencyP99Seconds = Math.max(
    0.001,
    workload.baseLatencySeconds *
      (0.8 + 0.2 * trafficShape(workload, tMs)) *
      (1 + 2 * throttledRatio) *
      (1 + 0.05 * noise(4)),
  );
  const errorRatio = clamp01(workload.baseErrorRatio * (1 + 0.3 * noise(5)) + 0.05 * throttledRatio);

  return {
    cpuCores,
    memoryBytes,
    requestsPerSecond,
    latencyP99Seconds,
    errorRatio,
    throttledRatio,
    leakRestarts,
  };
}

function nightlyJobCores(workload: SimWorkload, tMs: number): number {
  const job = workload.nightlyJob;
  if (job === undefined) return 0;
  const hour = (((tMs % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS;
  return hour >= job.startHourUtc && hour < job.startHourUtc + job.hours ? job.cpuCores : 0;
}

export const simulatedMetrics = [
  'cpu_usage_cores',
  'memory_working_set_bytes',
  'http_request_rate',
  'http_latency_p99_seconds',
  'http_error_ratio',
  'cpu_throttled_ratio',
] as const;
export type SimulatedMetric = (typeof simulatedMetrics)[number];

/** A backfilled series with the labels the catalogue queries would return. */
export interface SimSeries extends Series {
  readonly labels: {
    readonly namespace: string;
    readonly workload: string;
    readonly metric: SimulatedMetric;
  };
}

export interface BackfillInput {
  readonly seed: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly stepMs: number;
  /** @default defaultWorkloads */
  readonly workloads?: readonly SimWorkload[];
  /** @default every simulated metric */
  readonly metrics?: readonly SimulatedMetric[];
  readonly chaos?: ChaosState;
  /**
   * Averages the counter-based metrics over this span before each point, as `rate()` over the
   * exporter's counters does. @default 0: the value at each instant
   */
  readonly rateWindowMs?: number;
}

/** Metrics that PromQL derives from counters with `rate()`; the memory working set is a gauge. */
const RATE_METRICS: ReadonlySet<SimulatedMetric> = new Set([
  'cpu_usage_cores',
  'http_request_rate',
  'http_error_ratio',
  'http_latency_p99_seconds',
  'cpu_throttled_ratio',
]);

/** The exporter integrates its counters in steps of this length; a rate window is averaged the same way. */
const RATE_SUBSTEP_MS = 1_000;

/**
 * History as it would have been scraped, one series per workload and metric, on timestamps that are
 * multiples of the step in [startMs, endMs]. Metric names match the catalogue ids.
 */
export function backfillHistory(input: BackfillInput): SimSeries[] {
  if (!(input.stepMs > 0)) throw new Error(`'stepMs' (${input.stepMs}) must be positive`);
  if (!(input.endMs >= input.startMs)) {
    throw new Error(`'endMs' (${input.endMs}) must be at or after 'startMs' (${input.startMs})`);
  }
  const first = Math.ceil(input.startMs / input.stepMs) * input.stepMs;
  const count = Math.max(0, Math.floor((input.endMs - first) / input.stepMs) + 1);
  const timestamps = Float64Array.from({ length: count }, (_, i) => first + i * input.stepMs);
  const metrics = input.metrics ?? simulatedMetrics;

  const result: SimSeries[] = [];
  for (const workload of input.workloads ?? defaultWorkloads) {
    const columns = new Map(metrics.map((metric) => [metric, new Float64Array(count)]));
    const windowMs = input.rateWindowMs ?? 0;
    const substeps = Math.max(1, Math.round(windowMs / RATE_SUBSTEP_MS));
    timestamps.forEach((t, i) => {
      const sample = sampleWorkload(workload, t, input.seed, input.chaos);
      for (const [metric, column] of columns) column[i] = metricValue(sample, metric);
      if (windowMs <= 0) return;
      // Midpoint rule over (t - window, t], like the exporter's counters between two scrapes.
      // Limitation: ratios are averaged directly, where PromQL divides two averaged rates; the
      // two differ by far less than the noise.
      const sums = new Map<SimulatedMetric, number>();
      for (let k = 0; k < substeps; k++) {
        const at = t - windowMs + ((k + 0.5) * windowMs) / substeps;
        const inner = sampleWorkload(workload, at, input.seed, input.chaos);
        for (const metric of columns.keys()) {
          if (RATE_METRICS.has(metric))
            sums.set(metric, (sums.get(metric) ?? 0) + metricValue(inner, metric));
        }
      }
      for (const [metric, total] of sums) columns.get(metric)![i] = total / substeps;
    });
    for (const [metric, column] of columns) {
      const labels = { namespace: workload.namespace, workload: workload.name, metric };
      const name = `${metric}{namespace="${workload.namespace}",workload="${workload.name}"}`;
      result.push({ ...createSeries(name, timestamps, column), labels });
    }
  }
  return result;
}

export function metricValue(sample: WorkloadSample, metric: SimulatedMetric): number {
  switch (metric) {
    case 'cpu_usage_cores':
      return sample.cpuCores;
    case 'memory_working_set_bytes':
      return sample.memoryBytes;
    case 'http_request_rate':
      return sample.requestsPerSecond;
    case 'http_latency_p99_seconds':
      return sample.latencyP99Seconds;
    case 'http_error_ratio':
      return sample.errorRatio;
    case 'cpu_throttled_ratio':
      return sample.throttledRatio;
  }
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

/** Approximately standard normal, a pure function of its inputs (sum of four uniforms). */
function gaussian(seed: number, key: string, channel: number, bucket: number): number {
  let sum = 0;
  for (let k = 0; k < 4; k++) sum += uniform(seed, key, channel * 8 + k, bucket);
  return (sum - 2) * Math.sqrt(3);
}

function uniform(seed: number, key: string, channel: number, bucket: number): number {
  let h = hashString(key) ^ Math.imul(seed | 0, 0x9e3779b1);
  h = mix(h ^ Math.imul(channel, 0x85ebca6b));
  h = mix(h ^ (bucket | 0));
  h = mix(h ^ Math.floor(bucket / 2 ** 32));
  return (h >>> 0) / 2 ** 32;
}

function mix(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return h ^ (h >>> 16);
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}
