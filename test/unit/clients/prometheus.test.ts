import { describe, expect, it } from 'vitest';
import type { HttpFetch, HttpRequestInit } from '../../../clients/http.js';
import {
  createPrometheusClient,
  type PrometheusClientOptions,
  PrometheusError,
  planRangeChunks,
} from '../../../clients/prometheus.js';

interface Call {
  url: string;
  init: HttpRequestInit;
  form: URLSearchParams;
}

type Reply =
  | { status: number; body: unknown }
  | Error
  | ((call: Call) => Promise<{ status: number; body: unknown }>);

function fakeFetch(replies: Reply[] | ((call: Call) => Reply)): { fetch: HttpFetch; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: HttpFetch = async (url, init) => {
    const call = { url, init, form: new URLSearchParams(init.body ?? '') };
    calls.push(call);
    const reply = Array.isArray(replies) ? replies[calls.length - 1] : replies(call);
    if (reply === undefined) throw new Error(`no reply scripted for call ${calls.length}`);
    if (reply instanceof Error) throw reply;
    const { status, body } = typeof reply === 'function' ? await reply(call) : reply;
    return { status, text: async () => (typeof body === 'string' ? body : JSON.stringify(body)) };
  };
  return { fetch, calls };
}

/** A matrix answer with one series whose value is the timestamp in seconds, for every step of the call. */
function matrixFor(call: Call, metric: Record<string, string> = { __name__: 'up', job: 'a' }) {
  const start = Number(call.form.get('start'));
  const end = Number(call.form.get('end'));
  const step = Number(call.form.get('step'));
  const values: [number, string][] = [];
  for (let t = start; t <= end + 1e-9; t += step) values.push([t, String(t)]);
  return {
    status: 200,
    body: { status: 'success', data: { resultType: 'matrix', result: [{ metric, values }] } },
  };
}

function client(fetch: HttpFetch, extra: Partial<PrometheusClientOptions> = {}) {
  const delays: number[] = [];
  const prom = createPrometheusClient({
    url: 'http://prom.test:9090/',
    fetch,
    sleep: async (ms) => {
      delays.push(ms);
    },
    random: () => 0.5,
    ...extra,
  });
  return { prom, delays };
}

describe('planRangeChunks', () => {
  it('aligns start and end down to a multiple of the step', () => {
    const chunks = planRangeChunks({ startMs: 1_000_007_123, endMs: 1_000_100_999, stepSeconds: 60 });

    expect(chunks).toEqual([{ startMs: 999_960_000, endMs: 1_000_080_000 }]);
  });

  it('splits a range so that no request exceeds 11,000 points and no timestamp repeats', () => {
    const stepMs = 15_000;
    const chunks = planRangeChunks({ startMs: 0, endMs: 25_000 * stepMs, stepSeconds: 15 });

    expect(chunks).toEqual([
      { startMs: 0, endMs: 10_999 * stepMs },
      { startMs: 11_000 * stepMs, endMs: 21_999 * stepMs },
      { startMs: 22_000 * stepMs, endMs: 25_000 * stepMs },
    ]);
    for (const chunk of chunks)
      expect((chunk.endMs - chunk.startMs) / stepMs + 1).toBeLessThanOrEqual(11_000);
  });

  it('keeps a range of exactly 11,000 points in one request', () => {
    expect(planRangeChunks({ startMs: 0, endMs: 10_999_000, stepSeconds: 1 })).toHaveLength(1);
    expect(planRangeChunks({ startMs: 0, endMs: 11_000_000, stepSeconds: 1 })).toHaveLength(2);
  });

  it('rejects a step that is not positive, naming the value', () => {
    expect(() => planRangeChunks({ startMs: 0, endMs: 1, stepSeconds: 0 })).toThrow("'stepSeconds' (0)");
  });

  it('rejects an end before the start, naming both', () => {
    expect(() => planRangeChunks({ startMs: 5000, endMs: 1000, stepSeconds: 1 })).toThrow(
      "'endMs' (1000) must be a time at or after 'startMs' (5000)",
    );
  });
});

describe('createPrometheusClient', () => {
  it('reads a long range in chunks and merges them into one series per label set', async () => {
    const { fetch, calls } = fakeFetch((call) => matrixFor(call));
    const { prom } = client(fetch, { maxPointsPerRequest: 100 });

    const [series, ...others] = await prom.queryRange({
      query: 'up',
      startMs: 0,
      endMs: 249_000,
      stepSeconds: 1,
    });

    expect(others).toEqual([]);
    expect(calls.map((c) => [c.form.get('start'), c.form.get('end')])).toEqual([
      ['0', '99'],
      ['100', '199'],
      ['200', '249'],
    ]);
    expect(series!.name).toBe('up{job="a"}');
    expect(series!.labels).toEqual({ __name__: 'up', job: 'a' });
    expect(series!.timestampsMs.length).toBe(250);
    expect(series!.timestampsMs[0]).toBe(0);
    expect(series!.timestampsMs[249]).toBe(249_000);
    expect(series!.values[123]).toBe(123);
  });

  it('merges overlapping chunk answers without repeating a timestamp', async () => {
    // Prometheus may answer with points outside the asked range when a proxy rewrites it; keep one.
    const { fetch } = fakeFetch((call) => {
      const start = Number(call.form.get('start'));
      return matrixFor({
        ...call,
        form: new URLSearchParams({
          ...Object.fromEntries(call.form),
          start: String(Math.max(0, start - 5)),
        }),
      });
    });
    const { prom } = client(fetch, { maxPointsPerRequest: 10 });

    const [series] = await prom.queryRange({ query: 'up', startMs: 0, endMs: 29_000, stepSeconds: 1 });

    expect(Array.from(series!.timestampsMs)).toEqual(Array.from({ length: 30 }, (_, i) => i * 1000));
  });

  it('drops NaN samples and keeps the finite ones', async () => {
    const body = {
      status: 'success',
      data: {
        resultType: 'matrix',
        result: [
          {
            metric: { job: 'a' },
            values: [
              [1, '1'],
              [2, 'NaN'],
              [3, '+Inf'],
              [4, '4'],
            ],
          },
        ],
      },
    };
    const { fetch } = fakeFetch([{ status: 200, body }]);
    const { prom } = client(fetch);

    const [series] = await prom.queryRange({ query: 'x', startMs: 1000, endMs: 4000, stepSeconds: 1 });

    expect(Array.from(series!.timestampsMs)).toEqual([1000, 4000]);
    expect(Array.from(series!.values)).toEqual([1, 4]);
  });

  it('retries on 503, 429 and a refused connection, with growing jittered delays', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const { fetch, calls } = fakeFetch([
      { status: 503, body: 'Service Unavailable' },
      { status: 429, body: 'slow down' },
      refused,
      (call) => Promise.resolve(matrixFor(call)),
    ]);
    const { prom, delays } = client(fetch, { retry: { attempts: 4, baseDelayMs: 100 } });

    const result = await prom.queryRange({ query: 'up', startMs: 0, endMs: 2000, stepSeconds: 1 });

    expect(calls).toHaveLength(4);
    expect(delays).toEqual([50, 100, 200]);
    expect(result[0]!.values.length).toBe(3);
  });

  it('gives up after the last attempt with a retryable error naming the status', async () => {
    const { fetch, calls } = fakeFetch(() => ({ status: 502, body: 'bad gateway' }));
    const { prom } = client(fetch, { retry: { attempts: 3 } });

    const failure = await prom.query({ query: 'up' }).catch((error: unknown) => error);

    expect(calls).toHaveLength(3);
    expect(failure).toBeInstanceOf(PrometheusError);
    expect((failure as PrometheusError).retryable).toBe(true);
    expect((failure as PrometheusError).message).toContain('HTTP 502: bad gateway');
  });

  it('does not retry a bad query and names the query and Prometheus’s error text', async () => {
    const { fetch, calls } = fakeFetch([
      {
        status: 400,
        body: { status: 'error', errorType: 'bad_data', error: '1:5: parse error: unexpected "}"' },
      },
    ]);
    const { prom } = client(fetch);

    const failure = await prom.queryRange({ query: 'rate(x}', startMs: 0, endMs: 1000, stepSeconds: 1 }).then(
      () => undefined,
      (error: unknown) => error as PrometheusError,
    );

    expect(calls).toHaveLength(1);
    expect(failure?.retryable).toBe(false);
    expect(failure?.status).toBe(400);
    expect(failure?.message).toBe(
      'Prometheus at http://prom.test:9090/api/v1/query_range rejected query \'rate(x}\' with HTTP 400: bad_data: 1:5: parse error: unexpected "}"',
    );
  });

  it('retries a request that exceeds its timeout', async () => {
    let attempt = 0;
    const fetch: HttpFetch = (_url, init) => {
      attempt++;
      if (attempt === 1) {
        return new Promise((_, reject) =>
          init.signal!.addEventListener('abort', () => reject(init.signal!.reason)),
        );
      }
      return Promise.resolve({
        status: 200,
        text: async () => JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }),
      });
    };
    const { prom } = client(fetch, { requestTimeoutMs: 20 });

    await expect(prom.query({ query: 'up' })).resolves.toEqual([]);
    expect(attempt).toBe(2);
  });

  it('sends a bearer token', async () => {
    const { fetch, calls } = fakeFetch(() => ({
      status: 200,
      body: { status: 'success', data: { resultType: 'vector', result: [] } },
    }));
    const { prom } = client(fetch, { auth: { type: 'bearer', token: 's3cret' } });

    await prom.query({ query: 'up', timeMs: 1_700_000_000_500 });

    expect(calls[0]!.init.headers.authorization).toBe('Bearer s3cret');
    expect(calls[0]!.form.get('time')).toBe('1700000000.5');
  });

  it('sends basic credentials', async () => {
    const { fetch, calls } = fakeFetch(() => ({
      status: 200,
      body: { status: 'success', data: { resultType: 'vector', result: [] } },
    }));
    const { prom } = client(fetch, { auth: { type: 'basic', username: 'grafana', password: 'p:w' } });

    await prom.query({ query: 'up' });

    expect(calls[0]!.init.headers.authorization).toBe(
      `Basic ${Buffer.from('grafana:p:w').toString('base64')}`,
    );
  });

  it('reads an instant vector with labels and values', async () => {
    const body = {
      status: 'success',
      data: {
        resultType: 'vector',
        result: [{ metric: { namespace: 'shop' }, value: [1700000000.25, '0.75'] }],
      },
    };
    const { fetch } = fakeFetch([{ status: 200, body }]);
    const { prom } = client(fetch);

    expect(await prom.query({ query: 'x' })).toEqual([
      { labels: { namespace: 'shop' }, timestampMs: 1_700_000_000_250, value: 0.75 },
    ]);
  });

  it('reports readiness without throwing when Prometheus is unreachable', async () => {
    const { fetch } = fakeFetch([
      new TypeError('fetch failed'),
      { status: 200, body: 'Prometheus Server is Ready.' },
    ]);
    const { prom } = client(fetch);

    expect((await prom.health()).ready).toBe(false);
    expect(await prom.health()).toEqual({ ready: true, detail: 'HTTP 200: Prometheus Server is Ready.' });
  });
});
