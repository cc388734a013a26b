/**
 * PromQL for the signals a detector watches on a Kubernetes workload, from cAdvisor
 * (`container_*`), kube-state-metrics (`kube_*`) and the usual HTTP instrumentation
 * (`http_requests_total`, `http_request_duration_seconds_bucket`).
 *
 * cAdvisor and most exporters label series with the pod, not the workload, so a workload is
 * selected by its pods' names: `<name>-<replicaset hash>-<5 chars>` for a Deployment and
 * `<name>-<ordinal>` for a StatefulSet. Every query sums over the workload's pods and carries
 * `namespace` and `workload` labels, so results group the same way whatever the exporter.
 */

export type CatalogueUnit = 'cores' | 'bytes' | 'ratio' | 'count' | 'requests_per_second' | 'seconds';

export interface CatalogueEntry {
  /** Stable id, used in detector specs and as the `metric` label of alerts and scores. */
  readonly id: string;
  readonly description: string;
  readonly unit: CatalogueUnit;
  /**
   * The query with placeholders: `{{selector}}` (namespace and pod matchers, no braces),
   * `{{window}}` (the range of `rate` and `increase`). The workload label is added by rendering.
   */
  readonly promql: string;
}

export type WorkloadKind = 'Deployment' | 'StatefulSet';

export interface WorkloadSelector {
  readonly namespace: string;
  readonly workload: string;
  /**
   * Narrows the pod-name pattern to one kind.
   * @default both patterns, for when the kind is not known
   */
  readonly kind?: WorkloadKind;
}

export interface RenderOptions {
  /**
   * Range of `rate()` and `increase()`; at least four scrape intervals so a missed scrape does not
   * leave a gap.
   * @default '5m'
   */
  readonly window?: string;
}

export const promqlCatalogue: readonly CatalogueEntry[] = [
  {
    id: 'cpu_usage_cores',
    description: 'CPU used by the workload, summed over its containers',
    unit: 'cores',
    promql:
      'sum by (namespace) (rate(container_cpu_usage_seconds_total{{{selector}},container!="",container!="POD"}[{{window}}]))',
  },
  {
    id: 'cpu_usage_to_requests_ratio',
    description: 'CPU used against CPU requested; above 1 the workload runs on borrowed capacity',
    unit: 'ratio',
    promql:
      'sum by (namespace) (rate(container_cpu_usage_seconds_total{{{selector}},container!="",container!="POD"}[{{window}}]))' +
      ' / sum by (namespace) (kube_pod_container_resource_requests{{{selector}},resource="cpu"})',
  },
  {
    id: 'memory_working_set_bytes',
    description: 'Memory working set of the workload, the figure the OOM killer compares with the limit',
    unit: 'bytes',
    promql:
      'sum by (namespace) (container_memory_working_set_bytes{{{selector}},container!="",container!="POD"})',
  },
  {
    id: 'memory_working_set_to_limits_ratio',
    description: 'Memory working set against memory limits; at 1 containers are OOM-killed',
    unit: 'ratio',
    promql:
      'sum by (namespace) (container_memory_working_set_bytes{{{selector}},container!="",container!="POD"})' +
      ' / sum by (namespace) (kube_pod_container_resource_limits{{{selector}},resource="memory"})',
  },
  {
    id: 'container_restarts',
    description: 'Container restarts over the window',
    unit: 'count',
    promql:
      'sum by (namespace) (increase(kube_pod_container_status_restarts_total{{{selector}}}[{{window}}]))',
  },
  {
    id: 'cpu_throttled_ratio',
    description: 'Share of CFS periods in which the workload was throttled by its CPU limit',
    unit: 'ratio',
    promql:
      'sum by (namespace) (rate(container_cpu_cfs_throttled_periods_total{{{selector}},container!=""}[{{window}}]))' +
      ' / sum by (namespace) (rate(container_cpu_cfs_periods_total{{{selector}},container!=""}[{{window}}]))',
  },
  {
    id: 'http_request_rate',
    description: 'HTTP requests served per second',
    unit: 'requests_per_second',
    promql: 'sum by (namespace) (rate(http_requests_total{{{selector}}}[{{window}}]))',
  },
  {
    id: 'http_error_ratio',
    description: 'Share of HTTP requests answered with a 5xx status',
    unit: 'ratio',
    promql:
      'sum by (namespace) (rate(http_requests_total{{{selector}},code=~"5.."}[{{window}}]))' +
      ' / sum by (namespace) (rate(http_requests_total{{{selector}}}[{{window}}]))',
  },
  {
    id: 'http_latency_p99_seconds',
    description: '99th percentile of HTTP request duration, from histogram buckets',
    unit: 'seconds',
    promql:
      'histogram_quantile(0.99, sum by (namespace, le) (rate(http_request_duration_seconds_bucket{{{selector}}}[{{window}}])))',
  },
];

export class CatalogueError extends Error {
  override readonly name = 'CatalogueError';
}

export function catalogueEntry(id: string): CatalogueEntry {
  const entry = promqlCatalogue.find((candidate) => candidate.id === id);
  if (entry === undefined) {
    const known = promqlCatalogue.map((candidate) => candidate.id).join(', ');
    throw new CatalogueError(`catalogue entry '${id}' does not exist; known entries: ${known}`);
  }
  return entry;
}

/** Escapes a value for a double-quoted PromQL string: backslash, quote and line breaks. */
export function escapePromqlString(value: string): string {
  return value.replace(/[\\"\n\r]/g, (char) => {
    if (char === '\n') return '\\n';
    if (char === '\r') return '\\r';
    return `\\${char}`;
  });
}

/** Escapes RE2 metacharacters so that the value matches itself literally in `=~`. */
export function escapeRegex(value: string): string {
  return value.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** The pod-name pattern of a workload, unescaped for PromQL (RE2 syntax, anchored by Prometheus). */
export function podNamePattern(workload: string, kind?: WorkloadKind): string {
  const name = escapeRegex(workload);
  const deployment = '[a-z0-9]{1,10}-[a-z0-9]{5}';
  const statefulSet = '[0-9]+';
  if (kind === 'Deployment') return `${name}-${deployment}`;
  if (kind === 'StatefulSet') return `${name}-${statefulSet}`;
  return `${name}-(${deployment}|${statefulSet})`;
}

/** The label matchers, without braces, that select a workload's series. */
export function workloadMatchers(selector: WorkloadSelector): string {
  if (selector.namespace === '') throw new CatalogueError(`'namespace' ('') must not be empty`);
  if (selector.workload === '') throw new CatalogueError(`'workload' ('') must not be empty`);
  const pods = escapePromqlString(podNamePattern(selector.workload, selector.kind));
  return `namespace="${escapePromqlString(selector.namespace)}",pod=~"${pods}"`;
}

const DURATION = /^([0-9]+(ms|s|m|h|d|w|y))+$/;

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/** Milliseconds of a Prometheus duration such as `90s` or `1h30m`; NaN when it is not one. */
export function durationMs(text: string): number {
  if (!DURATION.test(text)) return Number.NaN;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/([0-9]+)(ms|s|m|h|d|w|y)/g)) {
    total += Number(amount) * UNIT_MS[unit!]!;
  }
  return total;
}

/**
 * The longest range selector or subquery range in a PromQL expression (`rate(x[5m])` → 300,000),
 * or 0 when it has none: how long after a gap in scraping its values still read short.
 */
export function longestRangeMs(query: string): number {
  let longest = 0;
  for (const [, range] of query.matchAll(/\[\s*([0-9a-z]+)\s*(?::[^\]]*)?\]/g)) {
    const ms = durationMs(range!);
    if (ms > longest) longest = ms;
  }
  return longest;
}

/**
 * The entry's query for one workload; every result series carries `namespace` and
 * `workload="<workload>"` labels.
 */
export function renderQuery(
  entry: CatalogueEntry,
  selector: WorkloadSelector,
  options: RenderOptions = {},
): string {
  const window = options.window ?? '5m';
  if (!DURATION.test(window)) {
    throw new CatalogueError(`'window' ('${window}') must be a Prometheus duration such as '5m' or '1h30m'`);
  }
  const body = entry.promql
    .replaceAll('{{selector}}', workloadMatchers(selector))
    .replaceAll('{{window}}', window);
  // In a label_replace replacement, `$` starts a capture reference; `$$` is a literal dollar.
  const workloadLabel = escapePromqlString(selector.workload.replaceAll('$', () => '$$'));
  return `label_replace(${body}, "workload", "${workloadLabel}", "", "")`;
}

/** Every catalogue query for one workload, keyed by entry id. */
export function renderWorkloadQueries(
  selector: WorkloadSelector,
  options: RenderOptions = {},
  entries: readonly CatalogueEntry[] = promqlCatalogue,
): Record<string, string> {
  return Object.fromEntries(entries.map((entry) => [entry.id, renderQuery(entry, selector, options)]));
}
