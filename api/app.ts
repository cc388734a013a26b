import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError } from 'fastify';
import fastifyMetricsModule from 'fastify-metrics';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import Type from 'typebox';
import { explainModels, scoringContextPoints } from '../ml/detector-model.js';
import { parseTimestamp } from '../ml/series.js';
import { ModelIntegrityError, ModelNotFoundError, type ModelRegistry } from '../registry/model-registry.js';
import { API_ERRORS, ApiError, type ApiErrorBody, type ApiErrorCode } from './errors.js';
import { createApiMetrics } from './metrics.js';
import { ModelCache } from './model-cache.js';

export interface AppOptions {
  readonly registry: ModelRegistry;
  readonly logger: Logger | false;
  /** @default 1048576 */
  readonly bodyLimitBytes?: number;
  readonly modelCache?: ModelCache;
  readonly version?: string;
  /**
   * Runs a rollback durably, e.g. by executing the rollbackDetector workflow through a Temporal
   * client. @default the registry's aliases are set directly, with the same decision recorded
   */
  readonly rollback?: (input: RollbackInput) => Promise<RollbackResult>;
  /**
   * Where `GET /metrics` reads from: request durations per route, inference time, points and
   * anomalies scored, and the model versions served. @default a registry of this app's own
   */
  readonly metricsRegistry?: Registry;
  /** Also export the process's CPU, memory, event-loop and GC metrics. @default true */
  readonly processMetrics?: boolean;
}

export interface RollbackInput {
  readonly detector: string;
  readonly version: number;
  readonly reason: string;
  readonly by?: string;
}

export interface RollbackResult {
  readonly detector: string;
  readonly version: number;
  readonly previousVersion?: number;
}

const RollbackBody = Type.Object(
  {
    version: Type.Integer({ minimum: 1, description: 'The registered version to serve again' }),
    reason: Type.String({ minLength: 1, maxLength: 500, description: 'Why, recorded with the decision' }),
    by: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Who asks' })),
  },
  { additionalProperties: false },
);

const RollbackResponse = Type.Object({
  detector: Type.String(),
  version: Type.Integer(),
  previousVersion: Type.Optional(Type.Integer()),
});

const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
});

const PredictBody = Type.Object(
  {
    detector: Type.String({ minLength: 1, maxLength: 63, description: 'Detector name, as in its spec' }),
    version: Type.Optional(
      Type.Integer({ minimum: 1, description: 'A registered version; the champion when absent' }),
    ),
    timestamps: Type.Array(Type.Union([Type.String(), Type.Number()]), {
      minItems: 1,
      description: 'ISO 8601 strings or epoch milliseconds, strictly increasing',
    }),
    values: Type.Array(Type.Number(), { minItems: 1, description: 'One finite value per timestamp' }),
  },
  { additionalProperties: false },
);

const Contribution = Type.Object({ feature: Type.String(), value: Type.Number(), robustZ: Type.Number() });

const PredictResponse = Type.Object({
  detector: Type.String(),
  version: Type.Integer(),
  threshold: Type.Number(),
  scores: Type.Array(Type.Number()),
  flags: Type.Array(Type.Boolean()),
  /**
   * Leading points scored with less history than the model uses (partial rolling windows, a
   * forecast drift not yet averaged over its full span): less context, less reliable.
   */
  warmupPoints: Type.Integer(),
  anomalies: Type.Array(
    Type.Object({
      index: Type.Integer(),
      timestamp: Type.String(),
      score: Type.Number(),
      features: Type.Array(Contribution),
      /** An ensemble's models by their share of the score; empty for a single forest. */
      models: Type.Array(Type.Object({ kind: Type.String(), score: Type.Number(), share: Type.Number() })),
    }),
  ),
});

// A CommonJS module with an `exports.default`: Node hands ESM the whole exports object, bundlers
// that honour `__esModule` hand over the plugin itself.
const fastifyMetrics = ((fastifyMetricsModule as unknown as { default?: unknown }).default ??
  fastifyMetricsModule) as typeof fastifyMetricsModule.default;

/** Builds the gateway; `listen` is left to the caller so tests can use `inject` without a port. */
export async function buildApp(options: AppOptions) {
  const cache = options.modelCache ?? new ModelCache({ registry: options.registry });
  const app = Fastify({
    loggerInstance: options.logger === false ? undefined : options.logger,
    logger: options.logger === false ? false : undefined,
    bodyLimit: options.bodyLimitBytes ?? 1_048_576,
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Kubernetes anomaly detector',
        description: 'Scores metric windows against trained detectors.',
        version: options.version ?? '0',
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const metrics = createApiMetrics(options.metricsRegistry ?? new Registry());
  await app.register(fastifyMetrics, {
    endpoint: '/metrics',
    defaultMetrics: { enabled: options.processMetrics ?? true, register: metrics.registry },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      routeBlacklist: ['/metrics', '/health/live', '/health/ready'],
      overrides: {
        histogram: {
          name: 'anomaly_detector_api_request_duration_seconds',
          help: 'Time to answer an API request, by route, method and status code.',
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers: [metrics.registry],
        },
        // Created even when disabled; kept out of the process-wide registry so apps can coexist.
        summary: { registers: [metrics.registry] },
      },
    },
  });

  app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
    const body = toErrorBody(err, options.bodyLimitBytes ?? 1_048_576, request.body);
    const status = API_ERRORS[body.error.code].status;
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: body.error.code }, 'request rejected');
    return reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: {
        code: 'ROUTE_NOT_FOUND',
        message: `${request.method} ${request.url} is not a route of this API`,
      },
    } satisfies ApiErrorBody),
  );

  // Probes come every few seconds; logging each would drown the access log.
  app.get('/health/live', { schema: { hide: true }, logLevel: 'silent' }, async () => ({ status: 'ok' }));

  app.get('/health/ready', { schema: { hide: true }, logLevel: 'silent' }, async (_request, reply) => {
    if (cache.loadedCount() === 0) await cache.warm();
    const models = cache.loadedCount();
    if (models === 0)
      return reply.status(503).send({ status: 'not ready', reason: 'no champion model is loaded yet' });
    return { status: 'ready', models };
  });

  app.get('/models', { schema: { description: 'Detectors with their champion and versions' } }, async () => {
    const detectors = await options.registry.listDetectors();
    return {
      detectors: await Promise.all(
        detectors.map(async (detector) => ({
          detector,
          champion: (await options.registry.getAlias(detector, 'champion')) ?? null,
          versions: (await options.registry.listVersions(detector)).map((m) => ({
            version: m.version,
            createdAt: m.createdAt,
            metrics: m.metrics,
          })),
        })),
      ),
    };
  });

  app.post(
    '/models/:detector/rollback',
    {
      schema: {
        description: 'Makes an earlier version the champion again; scoring loops follow at their next step',
        params: Type.Object({ detector: Type.String({ minLength: 1, maxLength: 63 }) }),
        body: RollbackBody,
        response: { 200: RollbackResponse, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const { detector } = request.params;
      const { version, reason, by } = request.body;
      if (!(await options.registry.listDetectors()).includes(detector)) {
        throw new ApiError(
          'DETECTOR_NOT_FOUND',
          `'detector' (${JSON.stringify(detector)}) is not a trained detector`,
        );
      }
      let metrics: Record<string, number>;
      try {
        metrics = (await options.registry.getMeta(detector, version)).metrics;
      } catch (err) {
        if (!(err instanceof ModelNotFoundError)) throw err;
        throw new ApiError(
          'VERSION_NOT_FOUND',
          `'version' (${version}) is not a version of detector '${detector}'`,
        );
      }
      const input = { detector, version, reason, ...(by ? { by } : {}) };
      let result: RollbackResult;
      if (options.rollback) {
        result = await options.rollback(input);
      } else {
        const previousVersion = await options.registry.getAlias(detector, 'champion');
        if (previousVersion !== version) {
          const recorded = by ? `${reason} (by ${by})` : reason;
          await options.registry.setAlias({
            detector,
            alias: 'champion',
            action: 'rollback',
            version,
            reason: recorded,
            metrics,
          });
          // A challenger in shadow was judged against the champion being replaced.
          await options.registry.setAlias({
            detector,
            alias: 'challenger',
            action: 'rollback',
            version,
            reason: recorded,
          });
        }
        result = { detector, version, ...(previousVersion !== undefined ? { previousVersion } : {}) };
      }
      request.log.info(
        { detector, version, previousVersion: result.previousVersion },
        'rolled back champion',
      );
      return result;
    },
  );

  app.post(
    '/predict',
    {
      schema: {
        description: 'Scores a window of points with a detector’s champion (or a named version)',
        body: PredictBody,
        response: { 200: PredictResponse, 400: ErrorBody, 404: ErrorBody, 413: ErrorBody, 503: ErrorBody },
      },
    },
    async (request) => {
      const { detector, timestamps, values } = request.body;
      if (timestamps.length !== values.length) {
        throw new ApiError(
          'LENGTH_MISMATCH',
          `'timestamps' has ${timestamps.length} entries but 'values' has ${values.length}`,
        );
      }
      const times = new Float64Array(timestamps.length);
      for (let i = 0; i < timestamps.length; i++) {
        const raw = timestamps[i]!;
        const ms = typeof raw === 'number' ? raw : parseTimestamp(raw);
        if (!Number.isFinite(ms)) {
          throw new ApiError('BAD_REQUEST', `'timestamps[${i}]' (${JSON.stringify(raw)}) is not a time`);
        }
        if (i > 0 && ms <= times[i - 1]!) {
          throw new ApiError(
            'TIMESTAMPS_OUT_OF_ORDER',
            `'timestamps[${i}]' (${JSON.stringify(raw)}) is not after 'timestamps[${i - 1}]' (${JSON.stringify(timestamps[i - 1])})`,
          );
        }
        times[i] = ms;
      }
      for (let i = 0; i < values.length; i++) {
        if (!Number.isFinite(values[i])) {
          throw new ApiError('INVALID_VALUE', `'values[${i}]' (${String(values[i])}) is not a finite number`);
        }
      }

      const served = await resolveModel(cache, options.registry, detector, request.body.version);
      const started = performance.now();
      const scored = served.loaded.score({
        name: detector,
        timestampsMs: times,
        values: Float64Array.from(values),
      });
      const anomalies = [];
      for (let i = 0; i < scored.flags.length; i++) {
        if (!scored.flags[i]) continue;
        anomalies.push({
          index: i,
          timestamp: new Date(times[i]!).toISOString(),
          score: scored.scores[i]!,
          features: served.loaded.explain(scored, i),
          models: explainModels(scored, i),
        });
      }
      const durationMs = performance.now() - started;
      metrics.inferenceDuration.observe({ detector }, durationMs / 1000);
      metrics.modelInfo.set({ detector, version: String(served.version) }, 1);
      metrics.pointsScored.inc({ detector }, values.length);
      metrics.anomaliesFlagged.inc({ detector }, anomalies.length);
      request.log.info(
        { detector, version: served.version, points: values.length, anomalies: anomalies.length, durationMs },
        'scored window',
      );
      return {
        detector,
        version: served.version,
        threshold: served.loaded.model.threshold,
        scores: Array.from(scored.scores),
        flags: scored.flags,
        warmupPoints: Math.min(values.length, scoringContextPoints(served.loaded.model)),
        anomalies,
      };
    },
  );

  return app;
}

async function resolveModel(cache: ModelCache, registry: ModelRegistry, detector: string, version?: number) {
  let resolved = version;
  if (resolved === undefined) {
    const detectors = await registry.listDetectors();
    if (!detectors.includes(detector)) {
      throw new ApiError(
        'DETECTOR_NOT_FOUND',
        `'detector' (${JSON.stringify(detector)}) is not a trained detector`,
        {
          known: detectors,
        },
      );
    }
    resolved = await cache.championVersion(detector);
    if (resolved === undefined) {
      throw new ApiError(
        'NO_CHAMPION',
        `detector '${detector}' has no champion model yet: run trainDetector for it, or name a 'version'`,
      );
    }
  }
  try {
    return await cache.get(detector, resolved);
  } catch (err) {
    if (err instanceof ModelNotFoundError) {
      const code: ApiErrorCode = version === undefined ? 'DETECTOR_NOT_FOUND' : 'VERSION_NOT_FOUND';
      throw new ApiError(code, `'version' (${resolved}) of detector '${detector}' does not exist`);
    }
    if (err instanceof ModelIntegrityError) throw new ApiError('MODEL_CORRUPT', err.message);
    throw err;
  }
}

function toErrorBody(
  err: FastifyError | ApiError,
  bodyLimitBytes: number,
  requestBody: unknown,
): ApiErrorBody {
  if (err instanceof ApiError) {
    return {
      error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
    };
  }
  if (err.validation) {
    // JSON.parse turns an overflowing literal such as 1e999 into Infinity, which fails the
    // number type; it is reported as the non-finite value it is.
    const nonFinite = err.validation.find((v) => {
      const value = valueAt(requestBody, v.instancePath);
      return typeof value === 'number' && !Number.isFinite(value);
    });
    if (nonFinite && err.validationContext === 'body') {
      const path = jsonPointerToPath(nonFinite.instancePath);
      const value = String(valueAt(requestBody, nonFinite.instancePath));
      return { error: { code: 'INVALID_VALUE', message: `'${path}' (${value}) is not a finite number` } };
    }
    const problems = err.validation.slice(0, 5).map((v) => {
      const path = jsonPointerToPath(v.instancePath);
      const missing = (v.params as { missingProperty?: string }).missingProperty;
      if (missing) return `'${missing}' is required`;
      const extra = (v.params as { additionalProperty?: string }).additionalProperty;
      if (extra) return `'${extra}' is not a known field`;
      const found =
        err.validationContext === 'body' && path
          ? ` (got ${quote(valueAt(requestBody, v.instancePath))})`
          : '';
      return `'${path || err.validationContext}' ${v.message}${found}`;
    });
    return {
      error: {
        code: 'BAD_REQUEST',
        message: `${err.validationContext ?? 'request'}: ${problems.join('; ')}`,
      },
    };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        error: {
          code: 'BODY_TOO_LARGE',
          message: `the request body is larger than the limit of ${bodyLimitBytes} bytes`,
        },
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send the body as application/json' } };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {
        error: {
          code: 'BAD_REQUEST',
          message: `the body is not valid JSON (${err.message}); NaN and Infinity are not JSON numbers, send finite numbers`,
        },
      };
  }
  if (err.statusCode && err.statusCode < 500) return { error: { code: 'BAD_REQUEST', message: err.message } };
  return { error: { code: 'INTERNAL', message: 'internal error; the server log has the details' } };
}

function valueAt(root: unknown, pointer: string): unknown {
  let at = root;
  for (const part of pointer.split('/').slice(1)) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return at;
}

function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** `/values/3` → `values[3]`, the way a caller writes it. */
function jsonPointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}
