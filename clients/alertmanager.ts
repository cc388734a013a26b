import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
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
  type TlsOptions,
  trimBody,
} from './http.js';

export interface AlertmanagerClientOptions {
  /** Base URL, e.g. `http://alertmanager.monitoring:9093`; a path prefix is kept. */
  readonly url: string;
  readonly auth?: HttpAuth;
  /** Used to build the default transport; ignored when `fetch` is given. */
  readonly tls?: TlsOptions;
  /** @default 10000 */
  readonly requestTimeoutMs?: number;
  readonly fetch?: HttpFetch;
}

/** The body of `POST /api/v2/alerts`, one element. */
export interface PostableAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** RFC 3339. */
  readonly startsAt?: string;
  readonly endsAt?: string;
  readonly generatorURL?: string;
}

/** An element of `GET /api/v2/alerts`. */
export interface GettableAlert extends PostableAlert {
  readonly fingerprint: string;
  readonly startsAt: string;
  readonly endsAt: string;
  readonly updatedAt: string;
  readonly status: { readonly state: 'active' | 'suppressed' | 'unprocessed' };
}

export interface GetAlertsOptions {
  /** Label matchers such as `alertname="WorkloadAnomaly"`. */
  readonly filter?: readonly string[];
  /** @default true, Alertmanager's default */
  readonly active?: boolean;
}

export interface AlertmanagerClient {
  /** One attempt; throws `AlertmanagerError` whose `retryable` says whether trying again can help. */
  postAlerts(alerts: readonly PostableAlert[]): Promise<void>;
  getAlerts(options?: GetAlertsOptions): Promise<GettableAlert[]>;
  /** Asks `/-/ready`; never throws. */
  health(): Promise<{ readonly ready: boolean; readonly detail: string }>;
}

export class AlertmanagerError extends Error {
  override readonly name = 'AlertmanagerError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function createAlertmanagerClient(options: AlertmanagerClientOptions): AlertmanagerClient {
  const baseUrl = options.url.replace(/\/+$/, '');
  const fetchImpl: HttpFetch =
    options.fetch ??
    (options.tls !== undefined ? createNodeFetch(options.tls) : (url, init) => fetch(url, init));
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const headers = { accept: 'application/json', ...authHeaders(options.auth) };

  async function call(method: string, pathAndQuery: string, body?: string): Promise<string> {
    const url = `${baseUrl}${pathAndQuery}`;
    let response: Awaited<ReturnType<HttpFetch>>;
    try {
      response = await fetchImpl(url, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        ...(body !== undefined && { body }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      if (!isTransportError(error)) throw error;
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new AlertmanagerError(`Alertmanager at ${url} did not answer (${reason})`, true, undefined, {
        cause: error,
      });
    }
    const text = await response.text();
    if (response.status >= 200 && response.status < 300) return text;
    const retryable = response.status >= 500 || response.status === 429;
    throw new AlertmanagerError(
      `Alertmanager at ${url} answered ${method} with HTTP ${response.status}: ${trimBody(text)}`,
      retryable,
      response.status,
    );
  }

  return {
    async postAlerts(alerts) {
      if (alerts.length === 0) return;
      await call('POST', '/api/v2/alerts', JSON.stringify(alerts));
    },
    async getAlerts(query = {}) {
      const params = new URLSearchParams();
      for (const matcher of query.filter ?? []) params.append('filter', matcher);
      if (query.active !== undefined) params.set('active', String(query.active));
      const suffix = params.size > 0 ? `?${params}` : '';
      return JSON.parse(await call('GET', `/api/v2/alerts${suffix}`)) as GettableAlert[];
    },
    async health() {
      try {
        const text = await call('GET', '/-/ready');
        return { ready: true, detail: trimBody(text, 200) };
      } catch (error) {
        return { ready: false, detail: error instanceof Error ? error.message : String(error) };
      }
    },
  };
}

/** What a detector found, turned into an alert by the notifier. */
export interface AnomalyAlert {
  readonly detector: string;
  readonly namespace: string;
  readonly workload: string;
  /** Catalogue id of the signal, e.g. `cpu_usage_cores`. */
  readonly metric: string;
  /** @default 'warning' */
  readonly severity?: 'info' | 'warning' | 'critical';
  readonly score: number;
  readonly threshold: number;
  /** The features that drove the score, largest contribution first. */
  readonly features?: readonly { readonly name: string; readonly contribution: number }[];
  /** @default a sentence built from the labels */
  readonly summary?: string;
  readonly runbookUrl?: string;
  readonly dashboardUrl?: string;
  /** Link back to the detector (API or Temporal UI), shown as the alert's source. */
  readonly generatorUrl?: string;
  /** Added to the labels; they take part in the fingerprint. */
  readonly extraLabels?: Readonly<Record<string, string>>;
}

/** Which alert to resolve: the labels that identify it, severity excluded. */
export type AlertIdentity = Pick<
  AnomalyAlert,
  'detector' | 'namespace' | 'workload' | 'metric' | 'extraLabels'
>;

export interface AlertNotifierOptions {
  readonly client: AlertmanagerClient;
  /**
   * JSON file keeping undelivered alerts and firing ones across restarts, written atomically.
   * @default none: the outbox lives in memory only
   */
  readonly outboxPath?: string;
  /** @default 'WorkloadAnomaly' */
  readonly alertname?: string;
  /**
   * How often a firing alert is posted again. Alertmanager resolves an alert whose `endsAt` has
   * passed, so this must stay well below `endsAfterMs`.
   * @default 60000
   */
  readonly refreshIntervalMs?: number;
  /**
   * `endsAt` of a firing alert is the send time plus this: if the detector stops (crash, deploy),
   * its alerts resolve by themselves after it.
   * @default 300000, Alertmanager's default resolve_timeout
   */
  readonly endsAfterMs?: number;
  /** Backoff of outbox retries. @default base 1000 ms, max 60000 ms */
  readonly retry?: RetryOptions;
  readonly logger?: ClientLogger;
  readonly now?: () => number;
  readonly random?: () => number;
}

export interface DeliveryReport {
  /** Alerts Alertmanager accepted in this call. */
  readonly delivered: number;
  /** Alerts still in the outbox. */
  readonly pending: number;
  /** Why the last attempt failed, when it did. */
  readonly error?: string;
}

export interface ActiveAlert {
  readonly fingerprint: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly startsAtMs: number;
  readonly lastSentMs: number;
}

export interface AlertNotifier {
  /** Records the alert as firing and tries to deliver it; never throws for Alertmanager being down. */
  fire(alert: AnomalyAlert): Promise<DeliveryReport>;
  /**
   * Records the alert as resolved (`endsAt` = now) and tries to deliver that. An alert this notifier
   * does not hold as firing (never fired, or fired before a restart without `outboxPath`) is left
   * alone: Alertmanager ends it after its `endsAt`.
   */
  resolve(identity: AlertIdentity): Promise<DeliveryReport>;
  /** Re-posts firing alerts last sent `refreshIntervalMs` ago or more, then flushes. */
  refresh(): Promise<DeliveryReport>;
  /** Delivers outbox entries whose backoff has elapsed. */
  flush(): Promise<DeliveryReport>;
  active(): ActiveAlert[];
  pending(): number;
  /** Refreshes and flushes every `intervalMs` until `stop()`. */
  start(intervalMs?: number): void;
  stop(): void;
}

/** The stable identity of a label set: hex SHA-256 of the labels sorted by name. */
export function alertFingerprint(labels: Readonly<Record<string, string>>): string {
  const sorted = Object.keys(labels)
    .sort()
    .map((key) => [key, labels[key]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
}

interface OutboxEntry {
  fingerprint: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  generatorURL?: string;
  startsAtMs: number;
  /** Set when resolved; a firing alert's `endsAt` is computed when it is sent, so it is never stale. */
  resolvedAtMs?: number;
  attempts: number;
  nextAttemptMs: number;
  /** Bumped on every change, so a delivery only clears the state it actually sent. */
  revision: number;
}

interface ActiveRecord {
  fingerprint: string;
  identity: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  generatorURL?: string;
  startsAtMs: number;
  lastSentMs: number;
}

interface OutboxFile {
  version: 1;
  outbox: OutboxEntry[];
  active: ActiveRecord[];
}

export async function openAlertNotifier(options: AlertNotifierOptions): Promise<AlertNotifier> {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const log = options.logger ?? silentLogger;
  const alertname = options.alertname ?? 'WorkloadAnomaly';
  const refreshIntervalMs = options.refreshIntervalMs ?? 60_000;
  const endsAfterMs = options.endsAfterMs ?? 300_000;
  const retry = { baseDelayMs: 1_000, maxDelayMs: 60_000, ...options.retry };
  if (refreshIntervalMs >= endsAfterMs) {
    throw new Error(
      `'refreshIntervalMs' (${refreshIntervalMs}) must be below 'endsAfterMs' (${endsAfterMs}), or firing alerts resolve between refreshes`,
    );
  }

  const outbox = new Map<string, OutboxEntry>();
  const active = new Map<string, ActiveRecord>();
  if (options.outboxPath !== undefined) {
    const saved = await loadOutbox(options.outboxPath);
    // After a restart, deliver at once instead of waiting out the previous backoff.
    for (const entry of saved.outbox) outbox.set(entry.fingerprint, { ...entry, nextAttemptMs: 0 });
    for (const record of saved.active) active.set(record.identity, record);
  }

  let queue: Promise<unknown> = Promise.resolve();
  /** Runs state changes and deliveries one at a time, so no alert is posted twice concurrently. */
  function serialize<T>(work: () => Promise<T>): Promise<T> {
    const result = queue.then(work);
    queue = result.catch(() => undefined);
    return result;
  }

  async function persist(): Promise<void> {
    if (options.outboxPath === undefined) return;
    const file: OutboxFile = { version: 1, outbox: [...outbox.values()], active: [...active.values()] };
    await writeAtomically(options.outboxPath, `${JSON.stringify(file, null, 2)}\n`);
  }

  function enqueue(record: Omit<ActiveRecord, 'identity' | 'lastSentMs'>, resolvedAtMs?: number): void {
    const previous = outbox.get(record.fingerprint);
    outbox.set(record.fingerprint, {
      fingerprint: record.fingerprint,
      labels: record.labels,
      annotations: record.annotations,
      ...(record.generatorURL !== undefined && { generatorURL: record.generatorURL }),
      startsAtMs: record.startsAtMs,
      ...(resolvedAtMs !== undefined && { resolvedAtMs }),
      attempts: 0,
      nextAttemptMs: previous?.nextAttemptMs ?? 0,
      revision: (previous?.revision ?? 0) + 1,
    });
  }

  async function deliver(): Promise<DeliveryReport> {
    const sentAt = now();
    const due = [...outbox.values()].filter((entry) => entry.nextAttemptMs <= sentAt);
    if (due.length === 0) return { delivered: 0, pending: outbox.size };
    const sent = due.map((entry) => ({ fingerprint: entry.fingerprint, revision: entry.revision }));
    const body: PostableAlert[] = due.map((entry) => ({
      labels: entry.labels,
      annotations: entry.annotations,
      startsAt: new Date(entry.startsAtMs).toISOString(),
      endsAt: new Date(entry.resolvedAtMs ?? sentAt + endsAfterMs).toISOString(),
      ...(entry.generatorURL !== undefined && { generatorURL: entry.generatorURL }),
    }));

    try {
      await options.client.postAlerts(body);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof AlertmanagerError && !error.retryable) {
        // Alertmanager refused the alerts themselves (a 400): sending them again cannot succeed.
        for (const { fingerprint } of sent) outbox.delete(fingerprint);
        log.warn('alertmanager rejected alerts, dropping them', { count: sent.length, error: message });
        await persist();
        return { delivered: 0, pending: outbox.size, error: message };
      }
      for (const entry of due) {
        entry.attempts++;
        entry.nextAttemptMs = sentAt + backoffDelayMs(entry.attempts - 1, retry, random);
      }
      log.warn('alertmanager unreachable, alerts kept in the outbox', { count: due.length, error: message });
      await persist();
      return { delivered: 0, pending: outbox.size, error: message };
    }

    for (const { fingerprint, revision } of sent) {
      if (outbox.get(fingerprint)?.revision === revision) outbox.delete(fingerprint);
      for (const record of active.values())
        if (record.fingerprint === fingerprint) record.lastSentMs = sentAt;
    }
    log.debug('alerts delivered', { count: sent.length, pending: outbox.size });
    await persist();
    return { delivered: sent.length, pending: outbox.size };
  }

  function identityOf(identity: AlertIdentity): string {
    return alertFingerprint({
      alertname,
      namespace: identity.namespace,
      workload: identity.workload,
      metric: identity.metric,
      detector: identity.detector,
      ...identity.extraLabels,
    });
  }

  let timer: NodeJS.Timeout | undefined;

  const notifier: AlertNotifier = {
    fire(alert) {
      return serialize(async () => {
        const identity = identityOf(alert);
        const labels = {
          ...alert.extraLabels,
          alertname,
          severity: alert.severity ?? 'warning',
          namespace: alert.namespace,
          workload: alert.workload,
          metric: alert.metric,
          detector: alert.detector,
        };
        const fingerprint = alertFingerprint(labels);
        const at = now();
        const existing = active.get(identity);
        if (existing !== undefined && existing.fingerprint !== fingerprint) {
          // The severity changed: Alertmanager sees a different alert, so end the old one.
          enqueue(existing, at);
        }
        const record: ActiveRecord = {
          fingerprint,
          identity,
          labels,
          annotations: annotationsFor(alert),
          ...(alert.generatorUrl !== undefined && { generatorURL: alert.generatorUrl }),
          startsAtMs: existing?.fingerprint === fingerprint ? existing.startsAtMs : at,
          lastSentMs: existing?.fingerprint === fingerprint ? existing.lastSentMs : 0,
        };
        active.set(identity, record);
        enqueue(record);
        return deliver();
      });
    },

    resolve(identity) {
      return serialize(async () => {
        const key = identityOf(identity);
        const record = active.get(key);
        if (record === undefined) return { delivered: 0, pending: outbox.size };
        active.delete(key);
        enqueue(record, now());
        return deliver();
      });
    },

    refresh() {
      return serialize(async () => {
        const at = now();
        for (const record of active.values()) {
          if (at - record.lastSentMs >= refreshIntervalMs && !outbox.has(record.fingerprint)) enqueue(record);
        }
        return deliver();
      });
    },

    flush: () => serialize(deliver),

    active: () =>
      [...active.values()].map(({ fingerprint, labels, startsAtMs, lastSentMs }) => ({
        fingerprint,
        labels,
        startsAtMs,
        lastSentMs,
      })),

    pending: () => outbox.size,

    start(intervalMs = 5_000) {
      if (timer !== undefined) return;
      timer = setInterval(() => {
        notifier
          .refresh()
          .catch((error: unknown) => log.warn('alert refresh failed', { error: String(error) }));
      }, intervalMs);
      timer.unref();
    },

    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
  return notifier;
}

export function annotationsFor(alert: AnomalyAlert): Record<string, string> {
  const where = `${alert.namespace}/${alert.workload}`;
  const drivers = (alert.features ?? [])
    .slice(0, 5)
    .map((feature) => `${feature.name} (${feature.contribution.toFixed(3)})`)
    .join(', ');
  const description =
    `Anomaly score ${alert.score.toFixed(3)} is above the threshold ${alert.threshold.toFixed(3)} ` +
    `for ${alert.metric} of ${where} (detector ${alert.detector}).` +
    (drivers === '' ? '' : ` Driven by: ${drivers}.`);
  return {
    summary: alert.summary ?? `Unusual ${alert.metric} on ${where}`,
    description,
    score: String(alert.score),
    threshold: String(alert.threshold),
    ...(alert.runbookUrl !== undefined && { runbook_url: alert.runbookUrl }),
    ...(alert.dashboardUrl !== undefined && { dashboard_url: alert.dashboardUrl }),
  };
}

async function loadOutbox(file: string): Promise<OutboxFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, outbox: [], active: [] };
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<OutboxFile>;
  if (parsed.version !== 1 || !Array.isArray(parsed.outbox) || !Array.isArray(parsed.active)) {
    throw new Error(`alert outbox '${file}' is not a version 1 outbox (version: ${parsed.version})`);
  }
  return parsed as OutboxFile;
}

/** Write to a temporary file in the same folder, then rename: readers see the old or the new file, never half. */
async function writeAtomically(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, content, 'utf8');
  await rename(temporary, file);
}
