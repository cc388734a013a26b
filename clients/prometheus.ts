import { createSeries, type Series } from '../ml/series.js';
import {
  authHeaders,
  backoffDelayMs,
  type ClientLogger,
  createNodeFetch,
  type HttpAuth,
  type HttpFetch,
  isTransportError,
  type RetryOptions,
  silentLogger,
  sleep,
  type TlsOptions,
  trimBody,
} from './http.js';

/** Prometheus refuses a range query that would return more points than this per series. */
export const PROMETHEUS_MAX_POINTS_PER_SERIES = 11_000;

export interface PrometheusClientOptions {
  /** Base URL, e.g. `http://prometheus.monitoring:9090`; a path prefix is kept. */
  readonly url: string;
  readonly auth?: HttpAuth;
  /** Used to build the default transport; ignored when `fetch` is given. */
  readonly tls?: TlsOptions;
  /**
   * Deadline of one HTTP request, retries excluded.
   * @default 30000
   */
  readonly requestTimeoutMs?: number;
  readonly retry?: RetryOptions;
  /**
   * Points per series in one range request. Lower it to keep responses small.
   * @default 11000, Prometheus's own limit
   */
  readonly maxPointsPerRequest?: number;
  /** @default the global fetch without TLS options, `createNodeFetch(tls)` with them */
  readonly fetch?: HttpFetch;
  readonly logger?: ClientLogger;
  /** Replaced in tests so that retries take no time. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

export interface RangeWindow {
  readonly startMs: number;
  readonly endMs: number;
  readonly stepSeconds: number;
}

export interface QueryRangeInput extends RangeWindow {
  readonly query: string;
}

export interface InstantQueryInput {
  readonly query: string;
  /** @default Prometheus's current time */
  readonly timeMs?: number;
}

/** A series as Prometheus returned it: `name` is the label set written as a selector. */
export interface LabelledSeries extends Series {
  readonly labels: Readonly<Record<string, string>>;
}

export interface InstantSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly timestampMs: number;
  readonly value: number;
}

export interface PrometheusHealth {
  readonly ready: boolean;
  readonly detail: string;
}

export interface PrometheusClient {
  /**
   * One series per result series, in ascending time, over `[startMs, endMs]` aligned down to the
   * step. Long ranges are split into several requests. Non-finite samples (NaN from a division by
   * zero, ±Inf) are dropped, since a `Series` holds finite values only.
   */
  queryRange(input: QueryRangeInput): Promise<LabelledSeries[]>;
  query(input: InstantQueryInput): Promise<InstantSample[]>;
  /** Asks `/-/ready`; never throws. */
  health(): Promise<PrometheusHealth>;
}

/**
 * Thrown for a failed request. `retryable` is false when repeating cannot help (a malformed query,
 * a refused token): activities should turn those into non-retryable failures.
 */
export class PrometheusError extends Error {
  override readonly name = 'PrometheusError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface RangeChunk {
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * The aligned range and its chunks. Start and end are rounded down to a multiple of the step, so
 * repeated queries see the same timestamps (and caches hit); each chunk holds at most
 * `maxPoints` points and starts one step after the previous one ends, so no timestamp repeats.
 */
export function planRangeChunks(
  input: RangeWindow,
  maxPoints = PROMETHEUS_MAX_POINTS_PER_SERIES,
): RangeChunk[] {
  const { startMs, endMs, stepSeconds } = input;
  if (!(stepSeconds > 0) || !Number.isFinite(stepSeconds)) {
    throw new PrometheusError(`'stepSeconds' (${stepSeconds}) must be a positive number`, false);
  }
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs < startMs) {
    throw new PrometheusError(`'endMs' (${endMs}) must be a time at or after 'startMs' (${startMs})`, false);
  }
  if (!Number.isInteger(maxPoints) || maxPoints < 1) {
    throw new PrometheusError(`'maxPointsPerRequest' (${maxPoints}) must be a positive integer`, false);
  }
  const stepMs = Math.round(stepSeconds * 1000);
  if (stepMs < 1) throw new PrometheusError(`'stepSeconds' (${stepSeconds}) is below one millisecond`, false);
  const alignedStart = Math.floor(startMs / stepMs) * stepMs;
  const alignedEnd = Math.floor(endMs / stepMs) * stepMs;
  const span = (maxPoints - 1) * stepMs;

  const chunks: RangeChunk[] = [];
  for (let chunkStart = alignedStart; chunkStart <= alignedEnd; ) {
    const chunkEnd = Math.min(alignedEnd, chunkStart + span);
    chunks.push({ startMs: chunkStart, endMs: chunkEnd });
    chunkStart = chunkEnd + stepMs;
  }
  return chunks;
}

/** Writes a label set the way Prometheus prints it: `name{a="1",b="2"}`, labels sorted. */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  const { __name__: metric = '', ...rest } = labels;
  const pairs = Object.keys(rest)
    .sort()
    .map((key) => `${key}=${JSON.stringify(rest[key])}`);
  return `${metric}{${pairs.join(',')}}`;
}

interface ApiEnvelope {
  status?: string;
  data?: { resultType?: string; result?: unknown };
  errorType?: string;
  error?: string;
}

interface MatrixEntry {
  metric: Record<string, string>;
  values: [number, string][];
}

interface VectorEntry {
  metric: Record<string, string>;
  value: [number, string];
}

export function createPrometheusClient(options: PrometheusClientOptions): PrometheusClient {
  const baseUrl = options.url.replace(/\/+$/, '');
  const fetchImpl: HttpFetch =
    options.fetch ??
    (options.tls !== undefined ? createNodeFetch(options.tls) : (url, init) => fetch(url, init));
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const attempts = options.retry?.attempts ?? 4;
  const maxPoints = options.maxPointsPerRequest ?? PROMETHEUS_MAX_POINTS_PER_SERIES;
  const log = options.logger ?? silentLogger;
  const wait = options.sleep ?? sleep;
  const random = options.random ?? Math.random;
  const headers = { accept: 'application/json', ...authHeaders(options.auth) };

  async function post(path: string, form: Record<string, string>, query: string): Promise<ApiEnvelope> {
    const url = `${baseUrl}${path}`;
    const body = new URLSearchParams(form).toString();
    for (let attempt = 1; ; attempt++) {
      let failure: PrometheusError;
      try {
        const response = await fetchImpl(url, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await response.text();
        if (response.status >= 200 && response.status < 300) return parseEnvelope(text, url);
        failure = statusError(response.status, text, query, url);
      } catch (error) {
        if (error instanceof PrometheusError) throw error;
        if (!isTransportError(error)) throw error;
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        failure = new PrometheusError(`Prometheus at ${url} did not answer (${reason})`, true, undefined, {
          cause: error,
        });
      }
      if (!failure.retryable || attempt >= attempts) throw failure;
      const delayMs = backoffDelayMs(attempt - 1, options.retry, random);
      log.warn('prometheus request failed, retrying', { url, attempt, delayMs, error: failure.message });
      await wait(delayMs);
    }
  }

  async function queryRange(input: QueryRangeInput): Promise<LabelledSeries[]> {
    const chunks = planRangeChunks(input, maxPoints);
    const merged = new Map<string, { labels: Record<string, string>; points: Map<number, number> }>();
    let dropped = 0;

    for (const chunk of chunks) {
      const envelope = await post(
        '/api/v1/query_range',
        {
          query: input.query,
          start: String(chunk.startMs / 1000),
          end: String(chunk.endMs / 1000),
          step: String(input.stepSeconds),
        },
        input.query,
      );
      const result = expectResult<MatrixEntry[]>(envelope, 'matrix', input.query);
      for (const entry of result) {
        const key = formatLabels(entry.metric);
        let target = merged.get(key);
        if (target === undefined) {
          target = { labels: entry.metric, points: new Map() };
          merged.set(key, target);
        }
        for (const [seconds, raw] of entry.values) {
          const value = Number(raw);
          if (!Number.isFinite(value)) {
            dropped++;
            continue;
          }
          target.points.set(Math.round(seconds * 1000), value);
        }
      }
    }

    if (dropped > 0) log.debug('dropped non-finite samples', { query: input.query, dropped });
    return [...merged.entries()]
      .map(([name, { labels, points }]) => {
        const timestamps = [...points.keys()].sort((a, b) => a - b);
        const values = timestamps.map((t) => points.get(t)!);
        return { ...createSeries(name, timestamps, values), labels };
      })
      .filter((series) => series.values.length > 0);
  }

  async function query(input: InstantQueryInput): Promise<InstantSample[]> {
    const form: Record<string, string> = { query: input.query };
    if (input.timeMs !== undefined) form.time = String(input.timeMs / 1000);
    const envelope = await post('/api/v1/query', form, input.query);
    const resultType = envelope.data?.resultType;
    if (resultType === 'scalar') {
      const [seconds, raw] = expectResult<[number, string]>(envelope, 'scalar', input.query);
      return [{ labels: {}, timestampMs: Math.round(seconds * 1000), value: Number(raw) }];
    }
    return expectResult<VectorEntry[]>(envelope, 'vector', input.query).map((entry) => ({
      labels: entry.metric,
      timestampMs: Math.round(entry.value[0] * 1000),
      value: Number(entry.value[1]),
    }));
  }

  async function health(): Promise<PrometheusHealth> {
    const url = `${baseUrl}/-/ready`;
    try {
      const response = await fetchImpl(url, {
        method: 'GET',
        headers,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      return { ready: response.status === 200, detail: `HTTP ${response.status}: ${trimBody(text, 200)}` };
    } catch (error) {
      return {
        ready: false,
        detail: `${url} did not answer: ${error instanceof Error ? error.message : error}`,
      };
    }
  }

  return { queryRange, query, health };
}

function statusError(status: number, text: string, query: string, url: string): PrometheusError {
  let detail = trimBody(text);
  try {
    const parsed = JSON.parse(text) as ApiEnvelope;
    if (typeof parsed.error === 'string') detail = `${parsed.errorType ?? 'error'}: ${parsed.error}`;
  } catch {
    // Not JSON (a proxy's HTML page, for instance): the trimmed body is the best detail there is.
  }
  const retryable = status >= 500 || status === 429;
  const what = status === 401 || status === 403 ? 'refused the credentials for' : 'rejected';
  return new PrometheusError(
    `Prometheus at ${url} ${what} query '${query}' with HTTP ${status}: ${detail}`,
    retryable,
    status,
  );
}

function parseEnvelope(text: string, url: string): ApiEnvelope {
  try {
    return JSON.parse(text) as ApiEnvelope;
  } catch (error) {
    throw new PrometheusError(
      `Prometheus at ${url} answered with a body that is not JSON: ${trimBody(text, 200)}`,
      false,
      200,
      {
        cause: error,
      },
    );
  }
}

function expectResult<T>(envelope: ApiEnvelope, resultType: string, query: string): T {
  if (envelope.status !== 'success') {
    throw new PrometheusError(
      `query '${query}' failed: ${envelope.errorType ?? 'error'}: ${envelope.error}`,
      false,
    );
  }
  if (envelope.data?.resultType !== resultType) {
    throw new PrometheusError(
      `query '${query}' returned a '${envelope.data?.resultType}' result where a '${resultType}' was expected`,
      false,
    );
  }
  return envelope.data.result as T;
}
