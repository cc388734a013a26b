import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AlertNotifierOptions,
  type AnomalyAlert,
  alertFingerprint,
  createAlertmanagerClient,
  openAlertNotifier,
  type PostableAlert,
} from '../../../clients/alertmanager.js';
import type { HttpFetch } from '../../../clients/http.js';

const T0 = Date.parse('2024-05-01T12:00:00.000Z');

const cpuAlert: AnomalyAlert = {
  detector: 'shop-cpu',
  namespace: 'shop',
  workload: 'frontend',
  metric: 'cpu_usage_cores',
  score: 0.934,
  threshold: 0.8,
  features: [
    { name: 'value_zscore', contribution: 0.61 },
    { name: 'hour_of_day', contribution: 0.12 },
  ],
  runbookUrl: 'https://runbooks.example/anomaly',
  dashboardUrl: 'https://grafana.example/d/workload?var-ns=shop',
};
const identity = { detector: 'shop-cpu', namespace: 'shop', workload: 'frontend', metric: 'cpu_usage_cores' };

/** Alertmanager as a fake fetch: `up` decides whether it answers; every accepted POST is recorded. */
function fakeAlertmanager() {
  const state = { up: true, status: 200, posts: [] as PostableAlert[][], attempts: 0 };
  const fetch: HttpFetch = async (url, init) => {
    if (init.method === 'POST' && url.endsWith('/api/v2/alerts')) state.attempts++;
    if (!state.up) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    if (state.status !== 200) return { status: state.status, text: async () => 'maxFailure' };
    if (init.method === 'POST') state.posts.push(JSON.parse(init.body ?? '[]') as PostableAlert[]);
    return { status: 200, text: async () => '' };
  };
  return { state, fetch };
}

async function notifierWith(
  fetch: HttpFetch,
  clock: { t: number },
  extra: Partial<AlertNotifierOptions> = {},
) {
  return openAlertNotifier({
    client: createAlertmanagerClient({ url: 'http://am.test:9093', fetch }),
    now: () => clock.t,
    random: () => 0.5,
    refreshIntervalMs: 60_000,
    endsAfterMs: 300_000,
    retry: { baseDelayMs: 1_000, maxDelayMs: 8_000 },
    ...extra,
  });
}

const tempDirs: string[] = [];
afterEach(async () => {
  for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('alertFingerprint', () => {
  it('does not depend on label order and changes with any label value', () => {
    const a = alertFingerprint({ alertname: 'X', namespace: 'shop', workload: 'frontend' });
    const b = alertFingerprint({ workload: 'frontend', alertname: 'X', namespace: 'shop' });
    const c = alertFingerprint({ alertname: 'X', namespace: 'shop', workload: 'checkout' });

    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('openAlertNotifier', () => {
  it('fires an alert with its labels, annotations and an endsAt one resolve timeout ahead', async () => {
    const am = fakeAlertmanager();
    const clock = { t: T0 };
    const notifier = await notifierWith(am.fetch, clock);

    const report = await notifier.fire(cpuAlert);

    expect(report).toEqual({ delivered: 1, pending: 0 });
    expect(am.state.posts).toEqual([
      [
        {
          labels: {
            alertname: 'WorkloadAnomaly',
            severity: 'warning',
            namespace: 'shop',
            workload: 'frontend',
            metric: 'cpu_usage_cores',
            detector: 'shop-cpu',
          },
          annotations: {
            summary: 'Unusual cpu_usage_cores on shop/frontend',
            description:
              'Anomaly score 0.934 is above the threshold 0.800 for cpu_usage_cores of shop/frontend (detector shop-cpu).' +
              ' Driven by: value_zscore (0.610), hour_of_day (0.120).',
            score: '0.934',
            threshold: '0.8',
            runbook_url: 'https://runbooks.example/anomaly',
            dashboard_url: 'https://grafana.example/d/workload?var-ns=shop',
          },
          startsAt: '2024-05-01T12:00:00.000Z',
          endsAt: '2024-05-01T12:05:00.000Z',
        },
      ],
    ]);
  });

  it('re-posts a firing alert once the refresh interval has passed, keeping its start', async () => {
    const am = fakeAlertmanager();
    const clock = { t: T0 };
    const notifier = await notifierWith(am.fetch, clock);
    await notifier.fire(cpuAlert);

    clock.t = T0 + 30_000;
    await notifier.refresh();
    clock.t = T0 + 61_000;
    await notifier.refresh();

    expect(am.state.posts).toHaveLength(2);
    expect(am.state.posts[1]![0]!.startsAt).toBe('2024-05-01T12:00:00.000Z');
    expect(am.state.posts[1]![0]!.endsAt).toBe('2024-05-01T12:06:01.000Z');
  });

  it('resolves by posting endsAt equal to now and forgets the alert', async () => {
    const am = fakeAlertmanager();
    const clock = { t: T0 };
    const notifier = await notifierWith(am.fetch, clock);
    await notifier.fire(cpuAlert);

    clock.t = T0 + 90_000;
    await notifier.resolve(identity);

    expect(am.state.posts[1]![0]!.endsAt).toBe('2024-05-01T12:01:30.000Z');
    expect(notifier.active()).toEqual([]);
  });

  it('keeps alerts while Alertmanager is down and delivers only the final state of a fire then resolve', async () => {
    const am = fakeAlertmanager();
    const clock = { t: T0 };
    const notifier = await notifierWith(am.fetch, clock);
    am.state.up = false;

    const fired = await notifier.fire(cpuAlert);
    clock.t = T0 + 10_000;
    await notifier.resolve(identity);
    am.state.up = true;
    clock.t = T0 + 20_000;
    const flushed = await notifier.flush();

    expect(fired.delivered).toBe(0);
    expect(fired.pending).toBe(1);
    expect(fired.error).toContain('did not answer');
    expect(flushed).toEqual({ delivered: 1, pending: 0 });
    expect(am.state.posts).toHaveLength(1);
    expect(am.state.posts[0]).toHaveLength(1);
    expect(am.state.posts[0]![0]!.endsAt).toBe('2024-05-01T12:00:10.000Z');
  });

  it('waits out a growing backoff before retrying', async () => {
    const am = fakeAlertmanager();
    const clock = { t: T0 };
    const notifier = await notifierWith(am.fetch, clock);
    am.state.up = false;

    await notifier.fire(cpuAlert); // fails; next try after 500 ms (half of 1 s with random 0.5)
    clock.t = T0 + 400;
    await notifier.flush(); // too early: not attempted
    clock.t = T0 + 500;
    await notifier.flush(); // fails; next try after 1000 ms
    clock.t = T0 + 1_400;
    await notifier.flush(); // too early

    expect(am.state.attempts).toBe(2);
    expect(notifier.pending()).toBe(1);
  });

  it('stamps a late delivery of a firing alert with an endsAt in the future of the send time', async () => {
    const am = fakeAlertmanager();
    const clock = { t: T0 };
    const notifier = await notifierWith(am.fetch, clock);
    am.state.up = false;
    await notifier.fire(cpuAlert);

    am.state.up = true;
    clock.t = T0 + 600_000;
    await notifier.flush();

    expect(am.state.posts[0]![0]!.endsAt).toBe('2024-05-01T12:15:00.000Z');
  });

  it('persists the outbox so that a new notifier on the same file delivers what the old one could not', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'outbox-'));
    tempDirs.push(dir);
    const outboxPath = path.join(dir, 'alerts', 'outbox.json');
    const am = fakeAlertmanager();
    const clock = { t: T0 };
    am.state.up = false;
    const first = await notifierWith(am.fetch, clock, { outboxPath });
    await first.fire(cpuAlert);

    am.state.up = true;
    const second = await notifierWith(am.fetch, clock, { outboxPath });
    const report = await second.flush();

    expect(report).toEqual({ delivered: 1, pending: 0 });
    expect(am.state.posts[0]![0]!.labels.workload).toBe('frontend');
    expect(second.active().map((alert) => alert.labels.metric)).toEqual(['cpu_usage_cores']);
    const saved = JSON.parse(await readFile(outboxPath, 'utf8')) as { outbox: unknown[]; active: unknown[] };
    expect(saved.outbox).toEqual([]);
    expect(saved.active).toHaveLength(1);
  });

  it('drops alerts Alertmanager rejects as invalid instead of retrying them forever', async () => {
    const am = fakeAlertmanager();
    am.state.status = 400;
    const notifier = await notifierWith(am.fetch, { t: T0 });

    const report = await notifier.fire(cpuAlert);

    expect(report.pending).toBe(0);
    expect(report.error).toBe(
      'Alertmanager at http://am.test:9093/api/v2/alerts answered POST with HTTP 400: maxFailure',
    );
  });

  it('ends the previous alert when the severity of the same anomaly changes', async () => {
    const am = fakeAlertmanager();
    const clock = { t: T0 };
    const notifier = await notifierWith(am.fetch, clock);
    await notifier.fire(cpuAlert);

    clock.t = T0 + 5_000;
    await notifier.fire({ ...cpuAlert, severity: 'critical' });

    const second = am.state.posts[1]!;
    expect(second.map((alert) => [alert.labels.severity, alert.endsAt])).toEqual([
      ['warning', '2024-05-01T12:00:05.000Z'],
      ['critical', '2024-05-01T12:05:05.000Z'],
    ]);
  });

  it('refuses a refresh interval that would let alerts resolve between refreshes', async () => {
    await expect(
      notifierWith(fakeAlertmanager().fetch, { t: T0 }, { refreshIntervalMs: 300_000 }),
    ).rejects.toThrow("'refreshIntervalMs' (300000) must be below 'endsAfterMs' (300000)");
  });
});

describe('createAlertmanagerClient', () => {
  it('passes label filters to GET /api/v2/alerts and a bearer token', async () => {
    const calls: { url: string; authorization?: string }[] = [];
    const fetch: HttpFetch = async (url, init) => {
      calls.push({ url, authorization: init.headers.authorization });
      return { status: 200, text: async () => '[]' };
    };
    const client = createAlertmanagerClient({
      url: 'http://am.test:9093/',
      fetch,
      auth: { type: 'bearer', token: 't' },
    });

    await client.getAlerts({ filter: ['workload="frontend"', 'namespace="shop"'] });

    expect(calls).toEqual([
      {
        url: 'http://am.test:9093/api/v2/alerts?filter=workload%3D%22frontend%22&filter=namespace%3D%22shop%22',
        authorization: 'Bearer t',
      },
    ]);
  });
});
