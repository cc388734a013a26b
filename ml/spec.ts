import Type, { type Static } from 'typebox';
import { createTaggedSpecParser } from './spec-parser.js';

/**
 * A detector spec: what to watch and how to model it. Plain JSON, so a workflow can be started
 * from the Temporal UI by pasting one. Defaults are filled in by {@link parseDetectorSpec}.
 */
export const CsvSourceSchema = Type.Object(
  {
    kind: Type.Literal('csv'),
    /** A `timestamp,value` CSV file, relative to the worker's working directory or absolute. */
    path: Type.String({ minLength: 1 }),
    /** Optional labelled windows (NAB's windows.json shape) used only to report evaluation metrics. */
    windowsPath: Type.Optional(Type.String({ minLength: 1 })),
    /** Key of this series in the windows file, e.g. `realKnownCause/nyc_taxi.csv`. */
    windowsKey: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const SimulatedSourceSchema = Type.Object(
  {
    kind: Type.Literal('simulated'),
    /** `namespace/name` of a workload of the built-in simulated cluster. */
    workload: Type.String({ default: 'shop/frontend', pattern: '^[a-z0-9-]+/[a-z0-9-]+$' }),
    /** One of the simulated cluster's metrics, named like the PromQL catalogue's entries. */
    metric: Type.Union(
      [
        Type.Literal('cpu_usage_cores'),
        Type.Literal('memory_working_set_bytes'),
        Type.Literal('http_request_rate'),
        Type.Literal('http_latency_p99_seconds'),
        Type.Literal('http_error_ratio'),
        Type.Literal('cpu_throttled_ratio'),
      ],
      { default: 'cpu_usage_cores' },
    ),
    /** History to generate, ending at the workflow's start time or at `endTime`. */
    days: Type.Number({ default: 14, exclusiveMinimum: 0, maximum: 120 }),
    /**
     * End of the generated training history, ISO 8601 in UTC (`2026-12-03T00:00:00Z`), so that
     * every run trains and evaluates on the same points. Scoring still reads the live clock.
     * @default the workflow's start time
     */
    endTime: Type.Optional(
      Type.String({ pattern: '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d(:\\d\\d(\\.\\d+)?)?Z$' }),
    ),
    stepSeconds: Type.Integer({ default: 60, minimum: 1 }),
    seed: Type.Integer({ default: 1 }),
    /**
     * Seconds over which counter-based metrics (CPU, requests, errors, latency, throttling) are
     * averaged before each point, as `rate(...[<window>])` averages the exporter's counters. Set it
     * to the window of the PromQL the detector is scored on, so training and scoring see the same
     * values. @default none: the value at each instant
     */
    rateWindowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  },
  { additionalProperties: false },
);

export const PrometheusSourceSchema = Type.Object(
  {
    kind: Type.Literal('prometheus'),
    /** Prometheus base URL; the worker's PROMETHEUS_URL when absent. */
    url: Type.Optional(Type.String({ minLength: 1 })),
    /** A PromQL expression that returns exactly one series. */
    query: Type.String({ minLength: 1 }),
    lookbackHours: Type.Number({ default: 168, exclusiveMinimum: 0 }),
    stepSeconds: Type.Integer({ default: 60, minimum: 1 }),
    /**
     * Seconds after a gap in the data (missed scrapes, a Prometheus outage) whose points are left
     * out of training and scoring: `rate()` over a window that straddles the gap reads low, and
     * would be learned as normal or alerted on as a dip. 0 keeps every point.
     * @default the longest range selector in `query` (`rate(x[5m])`: 300)
     */
    gapSettleSeconds: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const DetectorSpecSchema = Type.Object(
  {
    /** Detector id: lower-case letters, digits and dashes; it names the model in the registry. */
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
    source: Type.Union([CsvSourceSchema, SimulatedSourceSchema, PrometheusSourceSchema]),
    features: Type.Object(
      {
        windowsPoints: Type.Array(Type.Integer({ minimum: 2 }), { default: [12, 60], minItems: 1 }),
        diffLags: Type.Array(Type.Integer({ minimum: 1 }), { default: [1] }),
        /** Windows of rolling order statistics and the robust z-score, which one spike cannot inflate. */
        robustWindowsPoints: Type.Optional(Type.Array(Type.Integer({ minimum: 3 }))),
        /** Smoothing factors in (0, 1] of exponentially weighted means. */
        ewmaAlphas: Type.Optional(Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 1 }))),
        lags: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
        rateOfChange: Type.Optional(Type.Boolean()),
        /** FFT window in points, a power of two: dominant period and spectral energy. */
        spectralWindowPoints: Type.Optional(Type.Integer({ minimum: 0 })),
        /** Time of day and day of week: lets the forest judge a level against its usual hour. */
        calendar: Type.Optional(Type.Boolean()),
      },
      { default: {}, additionalProperties: false },
    ),
    model: Type.Object(
      {
        trees: Type.Integer({ default: 100, minimum: 1, maximum: 2000 }),
        sampleSize: Type.Integer({ default: 256, minimum: 2, maximum: 65536 }),
        seed: Type.Integer({ default: 1 }),
      },
      { default: {}, additionalProperties: false },
    ),
    split: Type.Object(
      {
        /** Fraction of the series, after training, used to calibrate the score and pick the threshold. */
        validationFraction: Type.Number({ default: 0.2, exclusiveMinimum: 0, exclusiveMaximum: 0.5 }),
        /** Final fraction held back for evaluation and champion comparison. */
        testFraction: Type.Number({ default: 0.2, exclusiveMinimum: 0, exclusiveMaximum: 0.5 }),
      },
      { default: {}, additionalProperties: false },
    ),
    /** Share of normal points allowed above the threshold: the false-alarm budget. */
    targetAnomalyRate: Type.Number({ default: 0.002, exclusiveMinimum: 0, exclusiveMaximum: 0.5 }),
    /**
     * The ensemble's members, each trained as its own activity. The Isolation Forest takes its
     * options from `model`; the others from `options`. Weights are relative.
     */
    models: Type.Array(
      Type.Object(
        {
          kind: Type.Union([Type.Literal('isolation-forest'), Type.Literal('lstm'), Type.Literal('prophet')]),
          weight: Type.Number({ default: 1, exclusiveMinimum: 0 }),
          options: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
          /**
           * Prophet only: points over which its signed residuals are averaged into a second
           * member, the forecast drift, which sees a sustained shift that stays inside the
           * forecast band where Prophet tracks the metric closely (48 is a start); 0 leaves it
           * out. @default 0
           */
          driftPoints: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
        },
        { additionalProperties: false },
      ),
      { default: [{ kind: 'isolation-forest' }], minItems: 1, maxItems: 3 },
    ),
    promotion: Type.Object(
      {
        /** A challenger must beat the champion's evaluation F1 by at least this much. */
        minImprovement: Type.Number({ default: 0, minimum: 0, maximum: 1 }),
        /**
         * Minutes the challenger is scored beside the champion by the scoring loop before it may
         * be promoted; 0 promotes at once. @default 0
         */
        shadowMinutes: Type.Number({ default: 0, minimum: 0, maximum: 43_200 }),
        /** Wait for an `approvePromotion` or `rejectPromotion` update before promoting. @default false */
        requireApproval: Type.Boolean({ default: false }),
        /** Hours to wait for an approval; no answer rejects the challenger. @default 72 */
        approvalTimeoutHours: Type.Number({ default: 72, exclusiveMinimum: 0, maximum: 720 }),
      },
      { default: {}, additionalProperties: false },
    ),
    scoring: Type.Object(
      {
        /** Seconds between scoring steps; the step of the source scored when absent. */
        stepSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
        /**
         * Where live points are read, when not from `source`: a detector trained on simulated
         * history is scored on the PromQL of the same workload and metric.
         * @default `source`
         */
        source: Type.Optional(PrometheusSourceSchema),
        /** Put in the `runbook_url` annotation of the detector's alerts. @default none */
        runbookUrl: Type.Optional(Type.String({ minLength: 1 })),
        /** Consecutive flagged steps before an alert fires. @default 1 */
        alertAfterSteps: Type.Integer({ default: 1, minimum: 1 }),
        /** Consecutive clean steps before an open alert resolves. @default 5 */
        resolveAfterSteps: Type.Integer({ default: 5, minimum: 1 }),
        /** Steps per workflow run before it continues as new, bounding its history. @default 500 */
        continueAsNewAfterSteps: Type.Integer({ default: 500, minimum: 2 }),
        /** Largest gap caught up in one step, in steps; older points are reported as a gap. @default 1440 */
        maxCatchUpSteps: Type.Integer({ default: 1440, minimum: 1 }),
        /** PSI of recent scores against the training scores above which a retrain starts. @default 0.25 */
        driftPsi: Type.Number({ default: 0.25, exclusiveMinimum: 0 }),
        /** Scored points needed before drift is judged. @default 720 */
        driftMinPoints: Type.Integer({ default: 720, minimum: 10 }),
      },
      { default: {}, additionalProperties: false },
    ),
    retrain: Type.Object(
      {
        /** Interval of the retraining schedule, in hours. @default 24 */
        everyHours: Type.Number({ default: 24, minimum: 0.05 }),
        /** Start a retrain early when the scored data drifts. @default true */
        onDrift: Type.Boolean({ default: true }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type DetectorSpec = Static<typeof DetectorSpecSchema>;
export type DetectorSpecInput = unknown;

export class SpecError extends Error {
  override readonly name = 'SpecError';
}

const parser = createTaggedSpecParser({
  label: 'detector spec',
  schema: DetectorSpecSchema,
  error: (message) => new SpecError(message),
  sources: { csv: CsvSourceSchema, simulated: SimulatedSourceSchema, prometheus: PrometheusSourceSchema },
});

/** Fills defaults and validates; the error lists every problem with its path and the value found. */
export function parseDetectorSpec(input: unknown): DetectorSpec {
  const valid = parser.parse(input) as DetectorSpec;
  const { validationFraction, testFraction } = valid.split;
  if (validationFraction + testFraction >= 0.8) {
    throw new SpecError(
      `detector spec: 'split.validationFraction' (${validationFraction}) + 'split.testFraction' (${testFraction}) must leave at least 20% for training`,
    );
  }
  const kinds = valid.models.map((m) => m.kind);
  if (new Set(kinds).size !== kinds.length) {
    throw new SpecError(`detector spec: 'models' (${kinds.join(', ')}) names a member kind more than once`);
  }
  valid.models.forEach((m, k) => {
    if (m.driftPoints !== undefined && m.kind !== 'prophet') {
      throw new SpecError(
        `detector spec: 'models/${k}/driftPoints' (${m.driftPoints}) applies to kind 'prophet' only, not '${m.kind}'`,
      );
    }
  });
  return valid;
}
