import Type, { type Static } from 'typebox';
import { createTaggedSpecParser } from './spec-parser.js';

/**
 * A forecast spec: which workloads to size, from which metrics, and how cautiously. Plain JSON, so
 * `forecastCapacity` can be started from the Temporal UI by pasting one; {@link parseForecastSpec}
 * fills the defaults.
 */
export const SimulatedMetricsSourceSchema = Type.Object(
  {
    kind: Type.Literal('simulated'),
    /** Seed of the built-in simulated cluster; workloads are named `namespace/name` as it defines them. */
    seed: Type.Integer({ default: 1 }),
    stepSeconds: Type.Integer({ default: 300, minimum: 10 }),
    /** History fetched each round; two weeks lets the model learn the weekly cycle. */
    lookbackHours: Type.Number({ default: 336, exclusiveMinimum: 0, maximum: 2160 }),
  },
  { additionalProperties: false },
);

export const PrometheusMetricsSourceSchema = Type.Object(
  {
    kind: Type.Literal('prometheus'),
    /** Prometheus base URL; the worker's PROMETHEUS_URL when absent. */
    url: Type.Optional(Type.String({ minLength: 1 })),
    stepSeconds: Type.Integer({ default: 300, minimum: 10 }),
    lookbackHours: Type.Number({ default: 336, exclusiveMinimum: 0, maximum: 2160 }),
    /** Range of `rate()` in the CPU query: at least four scrape intervals. */
    rateWindow: Type.String({ default: '5m', pattern: '^([0-9]+(ms|s|m|h|d|w|y))+$' }),
  },
  { additionalProperties: false },
);

export const CsvMetricsSourceSchema = Type.Object(
  {
    kind: Type.Literal('csv'),
    /**
     * `timestamp,value` CSV of the workload's CPU in cores; `{namespace}` and `{workload}` are
     * replaced per workload. Relative to the worker's working directory, or absolute.
     */
    cpuPath: Type.String({ minLength: 1 }),
    /** The same for memory in bytes; without it only CPU sizes the workload. */
    memoryPath: Type.Optional(Type.String({ minLength: 1 })),
    /** Newest part of the file used each round (points after the round's time are left out). */
    lookbackHours: Type.Number({ default: 336, exclusiveMinimum: 0 }),
  },
  { additionalProperties: false },
);

export const ForecastWorkloadSchema = Type.Object(
  {
    namespace: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 }),
    name: Type.String({ pattern: '^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$', maxLength: 253 }),
    kind: Type.Union([Type.Literal('Deployment'), Type.Literal('StatefulSet')], { default: 'Deployment' }),
    minReplicas: Type.Integer({ default: 1, minimum: 1 }),
    maxReplicas: Type.Integer({ default: 10, minimum: 1 }),
    /** Share of the request a pod should use at the forecast peak; 0.7 leaves 30% headroom. */
    targetUtilisation: Type.Number({ default: 0.7, exclusiveMinimum: 0, maximum: 1 }),
    /** Per-pod requests; read from the Kubernetes API (or the simulated cluster) when absent. */
    requests: Type.Optional(
      Type.Object(
        {
          cpuCores: Type.Optional(Type.Number({ minimum: 0 })),
          memoryBytes: Type.Optional(Type.Number({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Patch the HPA's minReplicas with the recommendation (a dry run unless the spec says `apply`). */
    patchHpa: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

export const ForecastSpecSchema = Type.Object(
  {
    /** Names the recommendation metrics (`detector` label) and the workflow's log lines. */
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
    source: Type.Union(
      [SimulatedMetricsSourceSchema, PrometheusMetricsSourceSchema, CsvMetricsSourceSchema],
      {
        default: { kind: 'simulated' },
      },
    ),
    workloads: Type.Array(ForecastWorkloadSchema, { minItems: 1, maxItems: 200 }),
    /** Time between rounds. */
    intervalMinutes: Type.Number({ default: 5, exclusiveMinimum: 0, maximum: 1440 }),
    horizonMinutes: Type.Number({ default: 30, exclusiveMinimum: 0, maximum: 1440 }),
    /** `auto` backtests MSTL against the seasonal naive forecast on each series and keeps the better. */
    model: Type.Union([Type.Literal('auto'), Type.Literal('mstl'), Type.Literal('seasonal-naive')], {
      default: 'auto',
    }),
    /** Quantile of the forecast's upper band. */
    upperQuantile: Type.Number({ default: 0.9, exclusiveMinimum: 0.5, exclusiveMaximum: 1 }),
    /** Size for the peak of the upper band (cautious) or of the point forecast. */
    planOn: Type.Union([Type.Literal('upper'), Type.Literal('point')], { default: 'upper' }),
    stabilisation: Type.Object(
      {
        /** Consecutive lower recommendations needed before the count goes down. */
        scaleDownAfter: Type.Integer({ default: 3, minimum: 1, maximum: 100 }),
        /** A need must fit in fewer pods even when grown by this fraction to count as lower. */
        hysteresis: Type.Number({ default: 0.1, minimum: 0, exclusiveMaximum: 1 }),
      },
      { default: {}, additionalProperties: false },
    ),
    /** `true` patches HPAs for real; otherwise the API server only validates a dry run. */
    apply: Type.Boolean({ default: false }),
    /** Stop after this many rounds; absent, the workflow runs until cancelled. */
    maxRounds: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Rounds per run before continue-as-new keeps the history short. */
    roundsPerRun: Type.Integer({ default: 144, minimum: 1, maximum: 5000 }),
  },
  { additionalProperties: false },
);

export type ForecastSpec = Static<typeof ForecastSpecSchema>;
export type ForecastWorkload = ForecastSpec['workloads'][number];
export type MetricsSource = ForecastSpec['source'];

export class ForecastSpecError extends Error {
  override readonly name = 'ForecastSpecError';
}

const parser = createTaggedSpecParser({
  label: 'forecast spec',
  schema: ForecastSpecSchema,
  error: (message) => new ForecastSpecError(message),
  sources: {
    simulated: SimulatedMetricsSourceSchema,
    prometheus: PrometheusMetricsSourceSchema,
    csv: CsvMetricsSourceSchema,
  },
});

/** Fills defaults and validates; the error lists every problem with its path and the value found. */
export function parseForecastSpec(input: unknown): ForecastSpec {
  const valid = parser.parse(input) as ForecastSpec;
  const problems: string[] = [];
  const seen = new Set<string>();
  valid.workloads.forEach((workload, i) => {
    if (workload.minReplicas > workload.maxReplicas) {
      problems.push(
        `'/workloads/${i}/minReplicas' (${workload.minReplicas}) must not exceed 'maxReplicas' (${workload.maxReplicas})`,
      );
    }
    const key = `${workload.namespace}/${workload.name}`;
    if (seen.has(key)) problems.push(`'/workloads/${i}' repeats the workload ${key}`);
    seen.add(key);
  });
  if (problems.length > 0) throw new ForecastSpecError(`forecast spec is invalid: ${problems.join('; ')}`);
  return valid;
}
