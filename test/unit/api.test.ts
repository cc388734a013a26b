import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { API_ERRORS, type ApiErrorCode } from '../../api/errors.js';
import { ModelCache } from '../../api/model-cache.js';
import { type DetectorModel, trainDetectorModel } from '../../ml/detector-model.js';
import { createRandom, normal } from '../../ml/random.js';
import { type Series, sliceSeries } from '../../ml/series.js';
import { createFileModelRegistry, type ModelRegistry } from '../../registry/model-registry.js';

const STEP_MS = 60_000;
const START_MS = Date.UTC(2026, 0, 5);
const BODY_LIMIT_BYTES = 64 * 1024;

/** A daily-shaped load: a 60-point cycle with a little seeded noise. */
function sineSeries(length: number, seed: number): Series {
  const random = createRandom(seed);
  return {
    name: 'web-latency',
    timestampsMs: Float64Array.from({ length }, (_, i) => START_MS + i * STEP_MS),
    values: Float64Array.from(
      { length },
      (_, i) => 100 + 20 * Math.sin((2 * Math.PI * i) / 60) + normal(random),
    ),
  };
}

function train(series: Series, seed: number, targetAnomalyRate: number): DetectorModel {
  return trainDetectorModel(sliceSeries(series, 0, 1200), sliceSeries(series, 1200, 1600), {
    features: { windowsPoints: [12, 60], diffLags: [1] },
    forest: { trees: 50, seed },
    targetAnomalyRate,
  });
}

async function register(registry: ModelRegistry, detector: string, model: DetectorModel) {
  return registry.registerVersion({
    detector,
    model,
    spec: { name: detector },
    dataRange: { startMs: START_MS, endMs: START_MS + 1600 * STEP_MS, points: 1600 },
    parameters: { trees: 50 },
    metrics: {},
    codeVersion: 'test',
  });
}

function errorBody(code: ApiErrorCode, message: string | RegExp) {
  return {
    error: {
      code,
      message:
        typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message),
    },
  };
}

describe('POST /predict and health routes', () => {
  let root: string;
  let registry: ModelRegistry;
  let app: Awaited<ReturnType<typeof buildApp>>;
  const history = sineSeries(2000, 1);
  // The window after the training and validation data, with one spike of 15 noise deviations.
  const SPIKE = 150;
  const window = sliceSeries(history, 1700, 1900);
  const spiked = Float64Array.from(window.values);
  spiked[SPIKE] = spiked[SPIKE]! + 15;
  const timestamps = Array.from(window.timestampsMs, (ms) => new Date(ms).toISOString());
  const values = Array.from(spiked);

  const predict = (payload: object) => app.inject({ method: 'POST', url: '/predict', payload });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'api-'));
    registry = createFileModelRegistry(root);
    await register(registry, 'web-latency', train(history, 1, 0.01));
    await register(registry, 'web-latency', train(history, 2, 0.05));
    await registry.setAlias({
      detector: 'web-latency',
      alias: 'champion',
      action: 'promote',
      version: 1,
      reason: 'first version',
    });
    await register(registry, 'untried', train(history, 3, 0.01));
    app = await buildApp({ registry, logger: false, bodyLimitBytes: BODY_LIMIT_BYTES });
  });

  afterAll(async () => {
    await app?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('scores every point with the champion and returns flags, threshold and version', async () => {
    const response = await predict({ detector: 'web-latency', timestamps, values });

    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ detector: 'web-latency', version: 1, warmupPoints: 60 });
    expect(body.threshold).toBeCloseTo(0.99, 12);
    expect(body.scores).toHaveLength(200);
    expect(body.flags).toHaveLength(200);
    for (const [i, score] of (body.scores as number[]).entries()) {
      expect(score).toBeGreaterThanOrEqual(0);
      expect(score).toBeLessThanOrEqual(1);
      expect(body.flags[i]).toBe(score >= body.threshold);
    }
  });

  it('flags the planted spike and explains it by the features that moved most', async () => {
    const body = (await predict({ detector: 'web-latency', timestamps, values })).json();

    const spike = body.anomalies.find((a: { index: number }) => a.index === SPIKE);
    expect(spike).toEqual({
      index: SPIKE,
      timestamp: timestamps[SPIKE],
      score: body.scores[SPIKE],
      features: [
        { feature: expect.any(String), value: expect.any(Number), robustZ: expect.any(Number) },
        { feature: expect.any(String), value: expect.any(Number), robustZ: expect.any(Number) },
        { feature: expect.any(String), value: expect.any(Number), robustZ: expect.any(Number) },
      ],
      // A single forest has no models to weigh against each other.
      models: [],
    });
    // The jump itself is the most unusual feature: far outside its training spread.
    expect(spike.features.map((f: { feature: string }) => f.feature)).toContain('diff_1');
    expect(Math.abs(spike.features[0].robustZ)).toBeGreaterThan(5);
    // Every anomaly is a flagged point, listed in order.
    const flagged = (body.flags as boolean[]).flatMap((f, i) => (f ? [i] : []));
    expect(body.anomalies.map((a: { index: number }) => a.index)).toEqual(flagged);
  });

  it('flags little of the same window without the spike', async () => {
    const body = (
      await predict({ detector: 'web-latency', timestamps, values: Array.from(window.values) })
    ).json();

    // The false-alarm budget is 1 %; after warm-up a clean window stays near it.
    const flaggedAfterWarmup = (body.flags as boolean[]).slice(body.warmupPoints).filter(Boolean).length;
    expect(flaggedAfterWarmup).toBeLessThanOrEqual(5);
    expect(body.flags[SPIKE]).toBe(false);
  });

  it('accepts epoch milliseconds as timestamps', async () => {
    const response = await predict({
      detector: 'web-latency',
      timestamps: Array.from(window.timestampsMs),
      values,
    });

    expect(response.statusCode).toBe(200);
    expect(response.json().flags[SPIKE]).toBe(true);
  });

  it('scores with the version named in the request instead of the champion', async () => {
    const response = await predict({ detector: 'web-latency', version: 2, timestamps, values });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ version: 2, threshold: expect.closeTo(0.95, 12) });
  });

  it.each([
    ['detector', { timestamps: [0], values: [1] }],
    ['timestamps', { detector: 'web-latency', values: [1] }],
    ['values', { detector: 'web-latency', timestamps: [0] }],
  ])("answers 400 naming '%s' when it is missing", async (field, payload) => {
    const response = await predict(payload);

    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual(errorBody('BAD_REQUEST', `'${field}' is required`));
  });

  it('answers 400 invalid JSON to NaN, which JSON has no spelling for', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/predict',
      headers: { 'content-type': 'application/json' },
      payload: '{"detector":"web-latency","timestamps":[0,1],"values":[1, NaN]}',
    });

    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual(errorBody('BAD_REQUEST', 'the body is not valid JSON'));
    expect(response.json().error.message).toContain('NaN and Infinity are not JSON numbers');
  });

  it('answers 400 naming the value when a number overflows to Infinity', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/predict',
      headers: { 'content-type': 'application/json' },
      payload: '{"detector":"web-latency","timestamps":[0,60000,120000],"values":[1,2,1e999]}',
    });

    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: { code: 'INVALID_VALUE', message: "'values[2]' (Infinity) is not a finite number" },
    });
  });

  it('answers 400 naming the value when it is not a number', async () => {
    const response = await predict({ detector: 'web-latency', timestamps: [0, 60_000], values: [1, 'high'] });

    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: { code: 'BAD_REQUEST', message: `body: 'values[1]' must be number (got "high")` },
    });
  });

  it('answers 400 naming both timestamps when they are out of order', async () => {
    const response = await predict({
      detector: 'web-latency',
      timestamps: ['2026-01-05T00:00:00Z', '2026-01-05T00:02:00Z', '2026-01-05T00:01:00Z'],
      values: [1, 2, 3],
    });

    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: {
        code: 'TIMESTAMPS_OUT_OF_ORDER',
        message: `'timestamps[2]' ("2026-01-05T00:01:00Z") is not after 'timestamps[1]' ("2026-01-05T00:02:00Z")`,
      },
    });
  });

  it('answers 400 naming a timestamp that is not a time', async () => {
    const response = await predict({ detector: 'web-latency', timestamps: [0, 'yesterday'], values: [1, 2] });

    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: { code: 'BAD_REQUEST', message: `'timestamps[1]' ("yesterday") is not a time` },
    });
  });

  it('answers 400 when timestamps and values differ in length, giving both lengths', async () => {
    const response = await predict({ detector: 'web-latency', timestamps: [0, 60_000], values: [1, 2, 3] });

    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: { code: 'LENGTH_MISMATCH', message: "'timestamps' has 2 entries but 'values' has 3" },
    });
  });

  it('answers 404 for an unknown detector, listing the known ones', async () => {
    const response = await predict({ detector: 'nope', timestamps, values });

    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: {
        code: 'DETECTOR_NOT_FOUND',
        message: `'detector' ("nope") is not a trained detector`,
        details: { known: ['untried', 'web-latency'] },
      },
    });
  });

  it('answers 404 for an unknown version, naming it', async () => {
    const response = await predict({ detector: 'web-latency', version: 9, timestamps, values });

    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: { code: 'VERSION_NOT_FOUND', message: "'version' (9) of detector 'web-latency' does not exist" },
    });
  });

  it('answers 413 with the limit when the body is over it', async () => {
    const long = Array.from({ length: 10_000 }, (_, i) => i);

    const response = await predict({ detector: 'web-latency', timestamps: long, values: long });

    expect(response.statusCode).toBe(413);
    expect(response.json()).toEqual({
      error: {
        code: 'BODY_TOO_LARGE',
        message: `the request body is larger than the limit of ${BODY_LIMIT_BYTES} bytes`,
      },
    });
  });

  it('answers 503 for a detector that has versions but no champion, saying so', async () => {
    const response = await predict({ detector: 'untried', timestamps, values });

    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual(errorBody('NO_CHAMPION', "detector 'untried' has no champion model yet"));
  });

  it('exports request durations, inference time, points scored and the version served at GET /metrics', async () => {
    const metricsRegistry = new Registry();
    const observed = await buildApp({ registry, logger: false, metricsRegistry, processMetrics: false });
    try {
      const scored = await observed.inject({
        method: 'POST',
        url: '/predict',
        payload: { detector: 'web-latency', timestamps, values },
      });
      await observed.inject({
        method: 'POST',
        url: '/predict',
        payload: { detector: 'nope', timestamps, values },
      });
      await observed.inject({ method: 'GET', url: '/health/live' });
      const response = await observed.inject({ method: 'GET', url: '/metrics' });

      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toContain('text/plain');
      const text = response.body;
      const flagged = (scored.json().flags as boolean[]).filter(Boolean).length;
      expect(text).toContain('anomaly_detector_predict_points_total{detector="web-latency"} 200');
      expect(text).toContain(`anomaly_detector_predict_anomalies_total{detector="web-latency"} ${flagged}`);
      expect(text).toContain('anomaly_detector_model_info{detector="web-latency",version="1"} 1');
      expect(text).toContain('anomaly_detector_inference_duration_seconds_count{detector="web-latency"} 1');
      expect(text).toMatch(
        /anomaly_detector_api_request_duration_seconds_count\{method="POST",route="\/predict",status_code="200"\} 1/,
      );
      expect(text).toMatch(
        /anomaly_detector_api_request_duration_seconds_count\{method="POST",route="\/predict",status_code="404"\} 1/,
      );
      // Probes and scrapes come every few seconds and would drown the request metrics.
      expect(text).not.toContain('route="/health/live"');
      expect(text).not.toContain('process_cpu_seconds_total');
    } finally {
      await observed.close();
    }
  });

  it('answers 404 with the catalogue body shape for an unknown route', async () => {
    const response = await app.inject({ method: 'GET', url: '/predictions' });

    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: { code: 'ROUTE_NOT_FOUND', message: 'GET /predictions is not a route of this API' },
    });
  });

  it('answers every error with a status that matches its catalogue code', async () => {
    const responses = await Promise.all([
      predict({ detector: 'nope', timestamps, values }),
      predict({ detector: 'untried', timestamps, values }),
      predict({ detector: 'web-latency', timestamps: [0], values: [1, 2] }),
      app.inject({ method: 'GET', url: '/missing' }),
    ]);

    for (const response of responses) {
      const code = response.json().error.code as ApiErrorCode;
      expect(API_ERRORS[code].status).toBe(response.statusCode);
    }
  });

  it('answers 200 to the liveness probe', async () => {
    const response = await app.inject({ method: 'GET', url: '/health/live' });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });
});

describe('GET /health/ready', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'api-ready-'));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('answers 503 until a champion is loaded, then 200 with the number of models', async () => {
    const registry = createFileModelRegistry(root);
    // A zero TTL follows the alias at once; the default trusts a lookup for two seconds.
    const app = await buildApp({
      registry,
      logger: false,
      modelCache: new ModelCache({ registry, aliasTtlMs: 0 }),
    });

    const empty = await app.inject({ method: 'GET', url: '/health/ready' });
    await register(registry, 'web-latency', train(sineSeries(1600, 4), 1, 0.01));
    const trainedOnly = await app.inject({ method: 'GET', url: '/health/ready' });
    await registry.setAlias({
      detector: 'web-latency',
      alias: 'champion',
      action: 'promote',
      version: 1,
      reason: 'first version',
    });
    const promoted = await app.inject({ method: 'GET', url: '/health/ready' });
    await app.close();

    expect(empty.statusCode).toBe(503);
    expect(empty.json()).toEqual({ status: 'not ready', reason: 'no champion model is loaded yet' });
    expect(trainedOnly.statusCode).toBe(503);
    expect(promoted.statusCode).toBe(200);
    expect(promoted.json()).toEqual({ status: 'ready', models: 1 });
  });
});
