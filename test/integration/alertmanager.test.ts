import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type AlertmanagerClient,
  type AnomalyAlert,
  createAlertmanagerClient,
  type GettableAlert,
  openAlertNotifier,
} from '../../clients/alertmanager.js';
import { type RunningServer, startAlertmanager } from '../support/servers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function anomaly(workload: string): AnomalyAlert {
  return {
    detector: 'integration',
    namespace: 'shop',
    workload,
    metric: 'cpu_usage_cores',
    severity: 'critical',
    score: 0.97,
    threshold: 0.8,
    features: [{ name: 'value_zscore', contribution: 0.7 }],
    runbookUrl: 'https://runbooks.example/anomaly',
  };
}

async function alertsFor(
  client: AlertmanagerClient,
  workload: string,
  active = true,
): Promise<GettableAlert[]> {
  return client.getAlerts({ filter: [`workload="${workload}"`, 'detector="integration"'], active });
}

async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(200);
  }
}

describe('Alertmanager notifier against a real Alertmanager', () => {
  const servers: RunningServer[] = [];
  const dirs: string[] = [];

  afterEach(async () => {
    for (const server of servers.splice(0)) await server.stop();
  });
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('delivers a fired alert with its labels and annotations, and a resolve ends it', async () => {
    const am = await startAlertmanager();
    servers.push(am);
    const client = createAlertmanagerClient({ url: am.url });
    const notifier = await openAlertNotifier({ client, refreshIntervalMs: 1_000, endsAfterMs: 60_000 });

    const fired = await notifier.fire(anomaly('frontend'));
    const [alert, ...others] = await eventually(
      () => alertsFor(client, 'frontend'),
      (alerts) => alerts.length > 0,
    );

    expect(fired).toEqual({ delivered: 1, pending: 0 });
    expect(others).toEqual([]);
    expect(alert!.labels).toEqual({
      alertname: 'WorkloadAnomaly',
      severity: 'critical',
      namespace: 'shop',
      workload: 'frontend',
      metric: 'cpu_usage_cores',
      detector: 'integration',
    });
    expect(alert!.annotations?.runbook_url).toBe('https://runbooks.example/anomaly');
    expect(alert!.annotations?.description).toContain('Driven by: value_zscore (0.700)');
    expect(Date.parse(alert!.endsAt)).toBeGreaterThan(Date.now());

    await notifier.resolve(anomaly('frontend'));
    const stillActive = await eventually(
      () => alertsFor(client, 'frontend'),
      (alerts) => alerts.length === 0,
    );

    // Alertmanager lists only unresolved alerts: a resolved alert is gone from the list.
    expect(stillActive).toEqual([]);
    expect(notifier.active()).toEqual([]);
  });

  it('keeps an alert fired while Alertmanager is down and delivers it once after a restart', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'alertmanager-restart-'));
    dirs.push(dataDir);
    const outboxPath = path.join(dataDir, 'detector', 'outbox.json');
    const first = await startAlertmanager({ dataDir });
    const client = createAlertmanagerClient({ url: first.url, requestTimeoutMs: 1_000 });
    await first.stop();

    let posts = 0;
    const countingClient: AlertmanagerClient = {
      ...client,
      async postAlerts(alerts) {
        await client.postAlerts(alerts);
        posts++;
      },
    };
    const notifier = await openAlertNotifier({
      client: countingClient,
      outboxPath,
      refreshIntervalMs: 30_000,
      endsAfterMs: 120_000,
      retry: { baseDelayMs: 100, maxDelayMs: 400 },
    });
    const whileDown = await notifier.fire(anomaly('checkout'));
    notifier.start(100);
    await sleep(1_500);
    const pendingWhileDown = notifier.pending();

    const second = await startAlertmanager({ dataDir, port: first.port });
    servers.push(second);
    const alerts = await eventually(
      () => alertsFor(client, 'checkout'),
      (found) => found.length > 0,
    );
    await sleep(1_000);
    notifier.stop();
    const after = await alertsFor(client, 'checkout');

    expect(whileDown.delivered).toBe(0);
    expect(pendingWhileDown).toBe(1);
    expect(alerts).toHaveLength(1);
    expect(after).toHaveLength(1);
    expect(after[0]!.fingerprint).toBe(alerts[0]!.fingerprint);
    expect(notifier.pending()).toBe(0);
    expect(posts).toBe(1);
  });
});
