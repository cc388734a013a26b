import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

/**
 * The part of `fetch` the clients use. The global `fetch` satisfies it, so does `createNodeFetch`,
 * and so does a plain function in a unit test.
 */
export type HttpFetch = (url: string, init: HttpRequestInit) => Promise<HttpResponse>;

export interface HttpRequestInit {
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  text(): Promise<string>;
}

export type HttpAuth =
  | { readonly type: 'bearer'; readonly token: string }
  | { readonly type: 'basic'; readonly username: string; readonly password: string };

export interface TlsOptions {
  /** PEM file of the certificate authorities to trust instead of Node's bundled ones. */
  readonly caFile?: string;
  /** PEM client certificate for mutual TLS; needs `keyFile`. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /**
   * Accepts any server certificate. Only for a lab: in production it lets anyone on the path read
   * and forge metrics and alerts.
   * @default false
   */
  readonly insecureSkipVerify?: boolean;
  /** The name to verify the server certificate against, when it differs from the URL's host. */
  readonly serverName?: string;
}

export interface RetryOptions {
  /**
   * Attempts in total, the first included.
   * @default 4
   */
  readonly attempts?: number;
  /**
   * Upper bound of the first delay; each retry doubles it, and the delay is drawn uniformly below it.
   * @default 250
   */
  readonly baseDelayMs?: number;
  /** @default 10000 */
  readonly maxDelayMs?: number;
}

/** Minimal structured logger: a static message and a fields object, like Temporal's `log`. */
export interface ClientLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: ClientLogger = { debug() {}, info() {}, warn() {} };

/** Adapts a pino logger (fields first) to `ClientLogger` (message first). */
export function fromPino(logger: {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}): ClientLogger {
  return {
    debug: (message, fields) => logger.debug(fields ?? {}, message),
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
  };
}

export function authHeaders(auth: HttpAuth | undefined): Record<string, string> {
  if (auth === undefined) return {};
  if (auth.type === 'bearer') return { authorization: `Bearer ${auth.token}` };
  const encoded = Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64');
  return { authorization: `Basic ${encoded}` };
}

/**
 * Delay before retry number `retry` (0 for the first retry): "full jitter", uniform in
 * [0, min(max, base * 2^retry)), so clients that failed together do not retry together.
 */
export function backoffDelayMs(retry: number, options: RetryOptions = {}, random = Math.random): number {
  const base = options.baseDelayMs ?? 250;
  const max = options.maxDelayMs ?? 10_000;
  return Math.floor(random() * Math.min(max, base * 2 ** retry));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A `fetch` over node:http and node:https. undici is bundled inside Node but not importable as a
 * package here, so TLS settings (custom CA, client certificate, skipping verification) go through
 * an `https.Agent` instead of an undici dispatcher.
 */
export function createNodeFetch(tls: TlsOptions = {}): HttpFetch {
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new Error(
      `TLS client authentication needs both 'certFile' (${tls.certFile}) and 'keyFile' (${tls.keyFile})`,
    );
  }
  const agent = new https.Agent({
    keepAlive: true,
    ...(tls.caFile !== undefined && { ca: readFileSync(tls.caFile) }),
    ...(tls.certFile !== undefined && { cert: readFileSync(tls.certFile) }),
    ...(tls.keyFile !== undefined && { key: readFileSync(tls.keyFile) }),
    ...(tls.serverName !== undefined && { servername: tls.serverName }),
    rejectUnauthorized: tls.insecureSkipVerify !== true,
  });
  const plainAgent = new http.Agent({ keepAlive: true });

  return (url, init) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const target = new URL(url);
      const secure = target.protocol === 'https:';
      const request = (secure ? https : http).request(
        target,
        {
          method: init.method,
          headers: init.headers,
          agent: secure ? agent : plainAgent,
          ...(init.signal !== undefined && { signal: init.signal }),
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            resolve({ status: response.statusCode ?? 0, text: async () => body });
          });
        },
      );
      request.on('error', reject);
      request.end(init.body);
    });
}

/** Whether an error thrown by a fetch is a timeout or a connection failure, worth retrying. */
export function isTransportError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError' || error.name === 'TimeoutError') return true;
  // The global fetch wraps socket errors in a TypeError('fetch failed'); node:http raises them bare.
  if (error instanceof TypeError) return true;
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' && /^(E[A-Z]+|UND_ERR_.*)$/.test(code);
}

export function trimBody(text: string, max = 500): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max)}... <${oneLine.length} characters>`;
}
