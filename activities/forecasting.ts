import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { log } from '@temporalio/activity';
import type { KubernetesClient } from '../clients/kubernetes.js';
import type { DetectorMetrics } from '../clients/metrics.js';
import { createPrometheusClient, type PrometheusClient, PrometheusError } from '../clients/prometheus.js';
import { catalogueEntry, renderQuery } from '../clients/promql-catalogue.js';
import { type RecommendInput, type ReplicaRecommendation, recommendReplicas } from '../ml/capacity.js';
import { ForecastError, type ForecastModelName, forecastSeries } from '../ml/forecast.js';
import {
  type ForecastSpec,
  ForecastSpecError,
  type ForecastWorkload,
  type MetricsSource,
  parseForecastSpec,
} from '../ml/forecast-spec.js';
import { createSeries, parseCsvSeries, type Series, SeriesError } from '../ml/series.js';
import { backfillHistory, findWorkload } from '../sim/workloads.js';
import { badInput } from './sources.js';

export interface ForecastingActivityDeps {
  /** Where recommendations and forecasts are exported for an HPA or KEDA to read. */
  readonly metrics: DetectorMetrics;
  /** Reads per-pod requests and patches HPAs; without it, requests must be in the spec. */
  readonly kubernetes?: KubernetesClient;
  /** Folder that relative CSV paths are resolved against. @default process.cwd() */
  readonly baseDir?: string;
  /** Prometheus to use when a source names none; from PROMETHEUS_URL. */
  readonly defaultPrometheusUrl?: string;
  readonly prometheus?: (url: string) => PrometheusClient;
}

export interface ForecastSettings {
  readonly horizonMinutes: number;
  readonly model: ForecastSpec['model'];
  readonly upperQuantile: number;
  readonly planOn: ForecastSpec['planOn'];
}

export interface ForecastWorkloadInput {
  /** The spec's name: the `detector` label of the exported metrics. */
  readonly name: string;
  readonly source: MetricsSource;
  readonly workload: ForecastWorkload;
  readonly settings: ForecastSettings;
  /** End of the history window, from the workflow's clock so a retry asks for the same data. */
  readonly endMs: number;
}

export interface ResourceForecastSummary {
  readonly model: ForecastModelName;
  readonly points: number;
  readonly lastValue: number;
  readonly peakPoint: number;
  readonly peakUpper: number;
}

export interface ForecastWorkloadResult {
  readonly workload: string;
  readonly requestsPerPod: { readonly cpuCores: number; readonly memoryBytes: number };
  readonly cpu?: ResourceForecastSummary;
  readonly memory?: ResourceForecastSummary;
  readonly recommendation: ReplicaRecommendation;
}

export interface ApplyRecommendationInput {
  readonly name: string;
  readonly workload: ForecastWorkload;
  readonly replicas: number;
  /** Patch for real; otherwise the API server answers a dry run. */
  readonly apply: boolean;
}

export interface HpaPatchOutcome {
  readonly hpa: string;
  readonly fromMinReplicas: number;
  readonly toMinReplicas: number;
  readonly dryRun: boolean;
  readonly changed: boolean;
}

export interface ApplyRecommendationResult {
  readonly workload: string;
  readonly replicas: number;
  /** Present when the workload's HPA was patched (or dry-run patched). */
  readonly hpa?: HpaPatchOutcome;
  /** Why no patch was sent, when patching is enabled but could not happen. */
  readonly skipped?: string;
}

const CPU_METRIC = 'cpu_usage_cores';
const MEMORY_METRIC = 'memory_working_set_bytes';

export function createForecastingActivities(deps: ForecastingActivityDeps) {
  const baseDir = deps.baseDir ?? process.cwd();
  const prometheusFor = deps.prometheus ?? ((url: string) => createPrometheusClient({ url }));

  const fetchSeries = async (
    source: MetricsSource,
    workload: ForecastWorkload,
    endMs: number,
  ): Promise<{ cpu: Series; memory?: Series }> => {
    const key = `${workload.namespace}/${workload.name}`;
    switch (source.kind) {
      case 'simulated': {
        let simulated: ReturnType<typeof findWorkload>;
        try {
          simulated = findWorkload(key);
        } catch (err) {
          throw badInput(`'workloads' names ${key}: ${(err as Error).message}`, err);
        }
        const [cpu, memory] = backfillHistory({
          seed: source.seed,
          startMs: endMs - source.lookbackHours * 3_600_000,
          endMs,
          stepMs: source.stepSeconds * 1000,
          workloads: [simulated],
          metrics: [CPU_METRIC, MEMORY_METRIC],
        });
        return { cpu: cpu!, memory: memory! };
      }
      case 'prometheus': {
        const url = source.url ?? deps.defaultPrometheusUrl;
        if (!url)
          throw badInput("source kind 'prometheus' needs 'source.url' or the worker's PROMETHEUS_URL");
        const client = prometheusFor(url);
        const selector = { namespace: workload.namespace, workload: workload.name, kind: workload.kind };
        const window = {
          startMs: endMs - source.lookbackHours * 3_600_000,
          endMs,
          stepSeconds: source.stepSeconds,
        };
        const query = async (metric: string) => {
          const promql = renderQuery(catalogueEntry(metric), selector, { window: source.rateWindow });
          try {
            const result = await client.queryRange({ query: promql, ...window });
            return result[0];
          } catch (err) {
            if (err instanceof PrometheusError && !err.retryable) throw badInput(err.message, err);
            throw err;
          }
        };
        const [cpu, memory] = await Promise.all([query(CPU_METRIC), query(MEMORY_METRIC)]);
        if (!cpu) throw badInput(`Prometheus has no ${CPU_METRIC} series for ${key}`);
        return { cpu, ...(memory ? { memory } : {}) };
      }
      case 'csv': {
        const read = (template: string, field: string) =>
          readCsvWindow(resolve(baseDir, expand(template, workload)), field, endMs, source.lookbackHours);
        const cpu = await read(source.cpuPath, 'source.cpuPath');
        const memory = source.memoryPath ? await read(source.memoryPath, 'source.memoryPath') : undefined;
        return { cpu, ...(memory ? { memory } : {}) };
      }
    }
  };

  const requestsOf = async (source: MetricsSource, workload: ForecastWorkload) => {
    const key = `${workload.namespace}/${workload.name}`;
    let cpuCores = workload.requests?.cpuCores;
    let memoryBytes = workload.requests?.memoryBytes;
    if (cpuCores !== undefined && memoryBytes !== undefined) return { cpuCores, memoryBytes };
    if (deps.kubernetes) {
      const found = (await deps.kubernetes.listWorkloads(workload.namespace)).find(
        (w) => w.kind === workload.kind && w.name === workload.name,
      );
      if (!found) throw badInput(`'workloads' names ${workload.kind} ${key}, which Kubernetes does not have`);
      cpuCores ??= found.podRequests.cpuCores;
      memoryBytes ??= found.podRequests.memoryBytes;
    } else if (source.kind === 'simulated') {
      const simulated = findWorkload(key);
      cpuCores ??= simulated.cpuRequestCores;
      memoryBytes ??= simulated.memoryRequestBytes;
    } else {
      throw badInput(
        `workload ${key} has no 'requests' in the spec and this worker has no Kubernetes client to read them`,
      );
    }
    return { cpuCores, memoryBytes };
  };

  return {
    /** Validates a spec and fills its defaults; a bad spec fails at once with every problem listed. */
    async validateForecastSpec(input: unknown): Promise<ForecastSpec> {
      try {
        return parseForecastSpec(input);
      } catch (err) {
        if (err instanceof ForecastSpecError) throw badInput(err.message, err);
        throw err;
      }
    },

    /**
     * Fetches the workload's CPU and memory, forecasts both over the horizon, exports the forecasts
     * and returns the raw (unstabilised) replica recommendation with small summaries, no series.
     */
    async forecastWorkload(input: ForecastWorkloadInput): Promise<ForecastWorkloadResult> {
      const { workload, settings } = input;
      const key = `${workload.namespace}/${workload.name}`;
      const started = performance.now();
      const [series, requestsPerPod] = await Promise.all([
        fetchSeries(input.source, workload, input.endMs),
        requestsOf(input.source, workload),
      ]);

      const summarise = (metric: string, s: Series): ResourceForecastSummary => {
        let forecast: ReturnType<typeof forecastSeries>;
        try {
          forecast = forecastSeries(s, {
            horizonMinutes: settings.horizonMinutes,
            upperQuantile: settings.upperQuantile,
            model: settings.model,
          });
        } catch (err) {
          if (err instanceof ForecastError) throw badInput(`${key} ${metric}: ${err.message}`, err);
          throw err;
        }
        const labels = {
          detector: input.name,
          namespace: workload.namespace,
          workload: workload.name,
          metric,
        };
        forecast.point.forEach((value, h) => {
          deps.metrics.recordForecast(labels, Math.round(((h + 1) * forecast.stepMs) / 1000), value);
        });
        return {
          model: forecast.model,
          points: s.values.length,
          lastValue: s.values[s.values.length - 1]!,
          peakPoint: Math.max(...forecast.point),
          peakUpper: Math.max(...forecast.upper),
        };
      };
      const cpu = summarise(CPU_METRIC, series.cpu);
      const memory = series.memory ? summarise(MEMORY_METRIC, series.memory) : undefined;

      const peak = (summary: ResourceForecastSummary) =>
        settings.planOn === 'upper' ? summary.peakUpper : summary.peakPoint;
      const demands: RecommendInput['demands'] = {
        cpu: { peakForecast: peak(cpu), requestPerPod: requestsPerPod.cpuCores },
        ...(memory
          ? { memory: { peakForecast: peak(memory), requestPerPod: requestsPerPod.memoryBytes } }
          : {}),
      };
      const recommendation = recommendReplicas({
        demands,
        targetUtilisation: workload.targetUtilisation,
        minReplicas: workload.minReplicas,
        maxReplicas: workload.maxReplicas,
      });
      log.info('forecast workload', {
        detector: input.name,
        workload: key,
        cpuModel: cpu.model,
        replicas: recommendation.replicas,
        drivenBy: recommendation.drivenBy,
        durationMs: Math.round(performance.now() - started),
      });
      return {
        workload: key,
        requestsPerPod,
        cpu,
        ...(memory ? { memory } : {}),
        recommendation,
      };
    },

    /**
     * Exports the stabilised recommendation as a metric and, where the workload enables it, sets
     * its HPA's minReplicas (a dry run unless `apply`). Safe to retry: the patch tests the value it
     * read, and a second attempt finds nothing left to change.
     */
    async applyRecommendation(input: ApplyRecommendationInput): Promise<ApplyRecommendationResult> {
      const { workload, replicas } = input;
      const key = `${workload.namespace}/${workload.name}`;
      deps.metrics.recommendedReplicas.set(
        { detector: input.name, namespace: workload.namespace, workload: workload.name },
        replicas,
      );
      if (!workload.patchHpa) return { workload: key, replicas };
      if (!deps.kubernetes) {
        return { workload: key, replicas, skipped: 'this worker has no Kubernetes client' };
      }
      const hpa = await deps.kubernetes.readHpa({
        namespace: workload.namespace,
        kind: workload.kind,
        workload: workload.name,
      });
      if (!hpa) return { workload: key, replicas, skipped: `${workload.kind} ${key} has no HPA` };

      // The HPA's own maximum wins: a minimum above it is refused by the API server.
      const minReplicas = Math.min(replicas, hpa.maxReplicas);
      const result = await deps.kubernetes.setHpaMinReplicas({
        namespace: hpa.namespace,
        hpaName: hpa.name,
        minReplicas,
        dryRun: !input.apply,
      });
      return {
        workload: key,
        replicas,
        hpa: {
          hpa: `${result.namespace}/${result.hpaName}`,
          fromMinReplicas: result.fromMinReplicas,
          toMinReplicas: result.toMinReplicas,
          dryRun: result.dryRun,
          changed: result.changed,
        },
      };
    },
  };
}

export type ForecastingActivities = ReturnType<typeof createForecastingActivities>;

function expand(template: string, workload: ForecastWorkload): string {
  return template.replaceAll('{namespace}', workload.namespace).replaceAll('{workload}', workload.name);
}

/**
 * The newest `lookbackHours` of a CSV at or before `endMs`; a file that ends earlier (a recorded
 * dataset) gives its own last window.
 */
async function readCsvWindow(
  path: string,
  field: string,
  endMs: number,
  lookbackHours: number,
): Promise<Series> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw badInput(`'${field}' (${path}) cannot be read: ${(err as Error).message}`, err);
  }
  let series: Series;
  try {
    series = parseCsvSeries(path, text);
  } catch (err) {
    if (err instanceof SeriesError) throw badInput(err.message, err);
    throw err;
  }
  const ts = series.timestampsMs;
  let end = ts.length;
  while (end > 0 && ts[end - 1]! > endMs) end--;
  if (end === 0)
    throw badInput(`'${field}' (${path}) has no points at or before ${new Date(endMs).toISOString()}`);
  const from = ts[end - 1]! - lookbackHours * 3_600_000;
  let start = end - 1;
  while (start > 0 && ts[start - 1]! >= from) start--;
  return createSeries(series.name, ts.subarray(start, end), series.values.subarray(start, end));
}
