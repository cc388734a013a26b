import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';

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
    /** History to generate, ending at the workflow's start time. */
    days: Type.Number({ default: 14, exclusiveMinimum: 0, maximum: 120 }),
    stepSeconds: Type.Integer({ default: 60, minimum: 1 }),
    seed: Type.Integer({ default: 1 }),
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
        /** Seconds between scoring steps; the source's step when absent. */
        stepSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
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

const SOURCE_SCHEMAS = {
  csv: CsvSourceSchema,
  simulated: SimulatedSourceSchema,
  prometheus: PrometheusSourceSchema,
} as const;
type SourceKind = keyof typeof SOURCE_SCHEMAS;
const SOURCE_KINDS = Object.keys(SOURCE_SCHEMAS) as SourceKind[];

// The source is checked against the one branch its `kind` names, so errors speak of that branch
// only, instead of a union's "matches none of" summary.
const compiledEnvelope = Compile(
  Type.Object({ ...DetectorSpecSchema.properties, source: Type.Unknown() }, { additionalProperties: false }),
);
const compiledSources = {
  csv: Compile(CsvSourceSchema),
  simulated: Compile(SimulatedSourceSchema),
  prometheus: Compile(PrometheusSourceSchema),
};

/** Fills defaults and validates; the error lists every problem with its path and the value found. */
export function parseDetectorSpec(input: unknown): DetectorSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new SpecError(`detector spec must be a JSON object, got ${describe(input)}`);
  }
  const spec = Value.Default(DetectorSpecSchema, Value.Clone(input)) as Record<string, unknown>;
  const problems: string[] = [];
  const collect = (errors: Iterable<SchemaError>, prefix: string) => {
    // A union of literals reports one `const` error per member before its `anyOf` summary;
    // they are gathered into a single "must be one of" naming the allowed values.
    const allowed = new Map<string, unknown[]>();
    for (const e of errors) {
      const params = e.params as SchemaErrorParams;
      const path = `${prefix}${e.instancePath}`;
      const got = (at: string) => `(got ${describe(pointer(spec, at))})`;
      if (e.keyword === 'required') {
        for (const missing of params.requiredProperties ?? [])
          problems.push(`'${path}/${missing}' is required`);
      } else if (e.keyword === 'boolean' && e.schemaPath.endsWith('/additionalProperties')) {
        problems.push(`'${path}' is not a known field ${got(path)}`);
      } else if (e.keyword === 'additionalProperties') {
        // Each extra field was already reported on its own path.
      } else if (e.keyword === 'const') {
        allowed.set(path, [...(allowed.get(path) ?? []), params.allowedValue]);
      } else if (e.keyword === 'anyOf' && allowed.has(path)) {
        const values = allowed.get(path)!.map((v) => JSON.stringify(v));
        problems.push(`'${path}' must be one of ${values.join(', ')} ${got(path)}`);
      } else {
        problems.push(`'${path || '/'}' ${e.message} ${got(path)}`);
      }
    }
  };

  collect(compiledEnvelope.Errors(spec), '');
  const source = spec.source as { kind?: unknown } | undefined;
  const kind = source?.kind as SourceKind;
  if (source === undefined) {
    // Reported as required by the envelope.
  } else if (typeof source !== 'object' || source === null) {
    problems.push(`'/source' must be an object with a 'kind' (got ${describe(source)})`);
  } else if (!SOURCE_KINDS.includes(kind)) {
    problems.push(`'/source/kind' must be one of ${SOURCE_KINDS.join(', ')} (got ${describe(source.kind)})`);
  } else {
    spec.source = Value.Default(SOURCE_SCHEMAS[kind], source);
    collect(compiledSources[kind].Errors(spec.source), '/source');
  }
  if (problems.length > 0)
    throw new SpecError(`detector spec is invalid: ${problems.slice(0, 8).join('; ')}`);

  const valid = spec as DetectorSpec;
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
  return valid;
}

interface SchemaError {
  readonly keyword: string;
  readonly schemaPath: string;
  readonly instancePath: string;
  readonly message: string;
  readonly params: object;
}

interface SchemaErrorParams {
  readonly requiredProperties?: string[];
  readonly allowedValue?: unknown;
}

function pointer(root: unknown, path: string): unknown {
  let at: unknown = root;
  for (const part of path.split('/').slice(1)) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return at;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
