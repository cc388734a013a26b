/**
 * The whole product on one machine, with nothing to configure:
 *   a Temporal dev server with its UI, the simulated cluster, Prometheus and Alertmanager when
 *   installed, the training worker, the API; then a training run on bundled data and a prediction;
 *   then a detector trained on the simulated cluster's history scores shop/frontend's CPU live, from
 *   Prometheus, and alerts through Alertmanager (`npm run demo:cpu-spike` to see one).
 *
 *   npm run demo             # stays up until Ctrl-C, which stops everything it started
 *   npm run demo -- --once   # exits after printing the prediction, without live scoring
 *
 * Ports (override with the environment): Temporal 7233, its UI 8233, API 8080, simulated cluster
 * 9105, Prometheus 9090, Alertmanager 9093. State lives in data/demo/ (DATA_DIR to move it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createLoggedAlerts } from '../activities/scoring.js';
import { buildApp } from '../api/app.js';
import { createAlertmanagerClient, openAlertNotifier } from '../clients/alertmanager.js';
import { createDetectorMetrics } from '../clients/metrics.js';
import { createPrometheusClient } from '../clients/prometheus.js';
import { type AppConfig, loadConfig } from '../config/config.js';
import { parseCsvSeries } from '../ml/series.js';
import { createFileModelRegistry } from '../registry/model-registry.js';
import { type SimExporter, startSimExporter } from '../sim/exporter.js';
import { LIVE_TRAINING_DAYS, simulatedWorkloadDetector } from '../sim/live-detector.js';
import { createScoringWorker } from '../workers/scoring-worker.js';
import { createTrainingWorker } from '../workers/training-worker.js';
import { scoreContinuously, statusQuery } from '../workflows/score-continuously.js';
import { trainDetector } from '../workflows/train-detector.js';
import {
  ALERTMANAGER_BINARY,
  PROMETHEUS_BINARY,
  type RunningServer,
  startAlertmanager,
  startPrometheus,
} from './local-servers.js';

const ROOT = resolve(import.meta.dirname, '..');
const once = process.argv.includes('--once');
const env = process.env;
const ports = {
  temporal: Number(env.DEMO_TEMPORAL_PORT ?? 7233),
  ui: Number(env.DEMO_UI_PORT ?? 8233),
  api: Number(env.API_PORT ?? 8080),
  sim: Number(env.DEMO_SIM_PORT ?? 9105),
  prometheus: Number(env.DEMO_PROMETHEUS_PORT ?? 9090),
  alertmanager: Number(env.DEMO_ALERTMANAGER_PORT ?? 9093),
};
const dataDir = resolve(env.DATA_DIR ?? resolve(ROOT, 'data/demo'));

const say = (message: string) => process.stdout.write(`\u001b[36m[demo]\u001b[0m ${message}\n`);
const cleanups: (() => Promise<void>)[] = [];
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('stopping everything the demo started');
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err) => say(`cleanup failed: ${(err as Error).message}`));
    }
  }
  process.exit(code);
}

async function main(): Promise<void> {
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));
  await mkdir(dataDir, { recursive: true });
  // The demo prints its own progress; the SDK's info lines (and the workflow bundler's) would bury it.
  Runtime.install({ logger: new DefaultLogger((env.DEMO_WORKER_LOG_LEVEL as 'WARN') ?? 'WARN') });

  say(`starting the Temporal dev server on 127.0.0.1:${ports.temporal} (UI on :${ports.ui})`);
  const temporal = await startTemporal();
  cleanups.push(() => stopChild(temporal));
  const address = `127.0.0.1:${ports.temporal}`;

  say(`starting the simulated cluster's exporter on 127.0.0.1:${ports.sim}`);
  const sim: SimExporter = await startSimExporter({ port: ports.sim, seed: 1 });
  cleanups.push(() => sim.close());

  let prometheus: RunningServer | undefined;
  let alertmanager: RunningServer | undefined;
  if (existsSync(PROMETHEUS_BINARY) && existsSync(ALERTMANAGER_BINARY)) {
    say('starting Prometheus and Alertmanager (Debian packages found)');
    prometheus = await startPrometheus({
      scrapeTargets: [sim.target, `127.0.0.1:${ports.api}`],
      // The live detector reads rate() over 10 s: at least four scrapes per window.
      scrapeIntervalSeconds: 1,
      port: ports.prometheus,
      dataDir: resolve(dataDir, 'prometheus'),
    });
    cleanups.push(() => prometheus!.stop());
    alertmanager = await startAlertmanager({
      port: ports.alertmanager,
      dataDir: resolve(dataDir, 'alertmanager'),
    });
    cleanups.push(() => alertmanager!.stop());
  } else {
    say('Prometheus/Alertmanager not installed: using the embedded simulated source and logged alerts');
  }

  const config = loadConfig({
    ...env,
    TEMPORAL_ADDRESS: address,
    DATA_DIR: dataDir,
    ...(prometheus ? { PROMETHEUS_URL: prometheus.url } : {}),
  });
  const connection = await NativeConnection.connect({ address });
  const worker: Worker = await createTrainingWorker({ connection, config });
  const workerDone = worker.run();
  cleanups.push(async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await workerDone.catch(() => undefined);
    await connection.close();
  });
  say(`training worker serving task queue '${config.trainingTaskQueue}'`);

  const registry = createFileModelRegistry(dataDir);
  const logger = pino({ level: env.LOG_LEVEL ?? 'warn' });
  const app = await buildApp({ registry, logger, version: config.codeVersion });
  const apiUrl = await app.listen({ host: '127.0.0.1', port: ports.api });
  cleanups.push(() => app.close());
  say(`API listening on ${apiUrl} (OpenAPI docs at ${apiUrl}/docs)`);

  const client = new Client({ connection: await Connection.connect({ address }) });
  const taxiCsv = resolve(ROOT, 'datasets/nab/realKnownCause/nyc_taxi.csv');
  const workflowId = `train-nyc-taxi-${Date.now()}`;
  say(`training detector 'nyc-taxi' on bundled data (${taxiCsv})`);
  const handle = await client.workflow.start(trainDetector, {
    taskQueue: config.trainingTaskQueue,
    workflowId,
    args: [
      {
        name: 'nyc-taxi',
        source: {
          kind: 'csv',
          path: taxiCsv,
          windowsPath: resolve(ROOT, 'datasets/nab/windows.json'),
          windowsKey: 'realKnownCause/nyc_taxi.csv',
        },
        // Rolling medians and MADs rather than means and standard deviations: one spike cannot
        // inflate them, so it is flagged once instead of echoing for a whole window.
        features: { windowsPoints: [2], diffLags: [1], robustWindowsPoints: [12, 48], calendar: true },
      } as never,
    ],
  });
  const result = await followProgress(handle);
  say(
    `trained version ${result.version} (${result.promoted ? 'promoted to champion' : 'champion kept'}): F1 on planted anomalies ${result.metrics.f1?.toFixed(2)}, ${result.metrics.falseAlarmsPerDay?.toFixed(2)} false alarms/day on held-back data`,
  );
  for (const warning of result.warnings ?? []) say(`  warning: ${warning}`);

  await printPrediction(apiUrl, taxiCsv);

  const ui = `http://127.0.0.1:${ports.ui}`;
  say('where to look:');
  say(`  Temporal UI      ${ui}/namespaces/default/workflows/${workflowId}`);
  say(`  API docs         ${apiUrl}/docs`);
  say(`  models           ${apiUrl}/models`);
  say(`  simulated metrics ${sim.url}/metrics`);
  if (prometheus) say(`  Prometheus       ${prometheus.url}`);
  if (alertmanager) say(`  Alertmanager     ${alertmanager.url}`);

  if (once) await stopAll(0);

  await startLiveScoring({ client, connection, config, sim, prometheus, alertmanager, ui });
  say('running; press Ctrl-C to stop everything');
}

const LIVE_DETECTOR = 'shop-frontend-cpu';

interface LiveScoringInput {
  readonly client: Client;
  readonly connection: NativeConnection;
  readonly config: AppConfig;
  readonly sim: SimExporter;
  readonly prometheus: RunningServer | undefined;
  readonly alertmanager: RunningServer | undefined;
  readonly ui: string;
}

/**
 * Trains a detector on the simulated cluster's history of shop/frontend's CPU and scores the same
 * signal live: from Prometheus, alerting through Alertmanager, when both run; else from the
 * simulator itself with alerts in the log.
 */
async function startLiveScoring(input: LiveScoringInput): Promise<void> {
  const { client, config, prometheus, alertmanager } = input;
  const notifier = alertmanager
    ? await openAlertNotifier({
        client: createAlertmanagerClient({ url: alertmanager.url }),
        outboxPath: resolve(dataDir, 'alert-outbox.json'),
      })
    : undefined;
  notifier?.start(1_000);
  const scoring = await createScoringWorker({
    connection: input.connection,
    client,
    config,
    metrics: createDetectorMetrics(new Registry()),
    alerts: notifier ?? createLoggedAlerts((message, fields) => say(`${message} ${JSON.stringify(fields)}`)),
  });
  const scoringDone = scoring.run();
  cleanups.push(async () => {
    if (scoring.getState() === 'RUNNING') scoring.shutdown();
    await scoringDone.catch(() => undefined);
    notifier?.stop();
    await notifier?.flush();
  });
  say(`scoring worker serving task queue '${config.scoringTaskQueue}'`);

  const spec = simulatedWorkloadDetector({
    name: LIVE_DETECTOR,
    ...(prometheus ? { prometheusUrl: prometheus.url } : {}),
  });
  say(
    `training detector '${LIVE_DETECTOR}' on ${LIVE_TRAINING_DAYS} days of the simulated cluster's shop/frontend CPU`,
  );
  const trainId = `train-${LIVE_DETECTOR}-${Date.now()}`;
  const trained = await followProgress(
    await client.workflow.start(trainDetector, {
      taskQueue: config.trainingTaskQueue,
      workflowId: trainId,
      args: [spec as never],
    }),
  );
  say(`trained version ${trained.version} (${trained.promoted ? 'promoted to champion' : 'champion kept'})`);
  for (const warning of trained.warnings ?? []) say(`  warning: ${warning}`);

  if (prometheus) await waitForHistory(prometheus.url, spec);

  const scoreId = `score-${LIVE_DETECTOR}`;
  // A loop left running by an earlier demo (the dev server keeps its state) is replaced.
  await client.workflow
    .getHandle(scoreId)
    .terminate('replaced by a new demo run')
    .catch(() => undefined);
  const handle = await client.workflow.start(scoreContinuously, {
    taskQueue: config.scoringTaskQueue,
    workflowId: scoreId,
    args: [{ spec: spec as never, trainingTaskQueue: config.trainingTaskQueue }],
  });
  cleanups.push(() => handle.terminate('demo stopped').then(() => undefined));
  const first = await waitForFirstStep(handle);
  say(
    `scoring ${prometheus ? 'the live Prometheus query' : 'the simulated source'} every 2 s: ${first ? `first point scored, lag ${((first.lagMs ?? 0) / 1000).toFixed(1)} s` : 'no point scored yet'}`,
  );
  say('live scoring, where to look:');
  say(`  scoring loop     ${input.ui}/namespaces/default/workflows/${scoreId} (query 'status')`);
  if (prometheus) {
    const query = encodeURIComponent((spec.scoring as { source: { query: string } }).source.query);
    say(`  Prometheus       ${prometheus.url}/graph?g0.expr=${query}`);
  }
  if (alertmanager) say(`  Alertmanager     ${alertmanager.url}/#/alerts`);
  say(
    prometheus && alertmanager
      ? '  try it          npm run demo:cpu-spike   (prints when the alert reaches Alertmanager)'
      : '  Prometheus is not installed: injected chaos does not reach the simulated source, alerts are logged',
  );
}

/** The rolling features need a minute of points before the first scored one. */
async function waitForHistory(prometheusUrl: string, spec: Record<string, unknown>): Promise<void> {
  const source = (spec.scoring as { source: { query: string; stepSeconds: number } }).source;
  const prom = createPrometheusClient({ url: prometheusUrl });
  const needed = 35;
  const deadline = Date.now() + 180_000;
  let shown = -1;
  while (Date.now() < deadline) {
    const now = Date.now();
    const [series] = await prom
      .queryRange({ ...source, startMs: now - 90_000, endMs: now })
      .catch(() => [undefined]);
    const points = series?.values.length ?? 0;
    if (points >= needed) return;
    if (shown < 0 || points - shown >= 10) {
      say(`  waiting for Prometheus history: ${points}/${needed} points of shop/frontend CPU`);
      shown = points;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
  say('  Prometheus history is still short after 3 minutes; scoring starts anyway');
}

async function waitForFirstStep(handle: Awaited<ReturnType<Client['workflow']['start']>>) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    if (status && status.totalPoints > 0) return status;
    await new Promise((r) => setTimeout(r, 500));
  }
  return undefined;
}

/** Starts `temporal server start-dev` from .tools/bin, persisting to data/demo so the UI keeps history. */
async function startTemporal(): Promise<ChildProcess> {
  const cli = env.TEMPORAL_CLI_PATH ?? resolve(ROOT, '.tools/bin/temporal');
  if (!existsSync(cli)) throw new Error(`the Temporal CLI is not at ${cli}: run npm run setup`);
  const child = spawn(
    cli,
    [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(ports.temporal),
      '--ui-port',
      String(ports.ui),
      '--db-filename',
      resolve(dataDir, 'temporal.db'),
      '--log-level',
      'error',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk).slice(-5000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk).slice(-5000)));

  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`the Temporal dev server exited (${child.exitCode}):\n${output}`);
    try {
      const connection = await Connection.connect({
        address: `127.0.0.1:${ports.temporal}`,
        connectTimeout: 1000,
      });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      return child;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`the Temporal dev server did not answer on port ${ports.temporal} within 30 s:\n${output}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const forced = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(forced);
}

/** Prints each activity as it starts, so a long training shows where it is. */
async function followProgress(handle: Awaited<ReturnType<Client['workflow']['start']>>) {
  const seen = new Set<string>();
  const started = Date.now();
  const poll = setInterval(async () => {
    try {
      const description = await handle.describe();
      for (const pending of description.raw.pendingActivities ?? []) {
        const name = pending.activityType?.name ?? '?';
        if (!seen.has(name)) {
          seen.add(name);
          say(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${name}`);
        }
      }
    } catch {
      // The workflow may finish between two polls.
    }
  }, 200);
  try {
    return (await handle.result()) as Awaited<ReturnType<typeof trainDetector>>;
  } finally {
    clearInterval(poll);
  }
}

/**
 * Scores the last four days of the bundled series with one spike planted, and prints what was
 * flagged after the leading points that only fill the rolling windows.
 */
async function printPrediction(apiUrl: string, csvPath: string): Promise<void> {
  const series = parseCsvSeries('nyc_taxi', await readFile(csvPath, 'utf8'));
  const window = 192;
  const from = series.values.length - window;
  const values = Array.from(series.values.subarray(from));
  const spikeAt = window - 10;
  values[spikeAt] = 2.5 * Math.max(...values);
  const timestamps = Array.from(series.timestampsMs.subarray(from), (t) => new Date(t).toISOString());

  const response = await fetch(`${apiUrl}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ detector: 'nyc-taxi', timestamps, values }),
  });
  const body = (await response.json()) as {
    version: number;
    threshold: number;
    scores: number[];
    warmupPoints: number;
    anomalies: {
      index: number;
      timestamp: string;
      score: number;
      features: { feature: string; robustZ: number }[];
    }[];
  };
  say(
    `POST /predict → ${response.status}: ${window} points scored by version ${body.version}, threshold ${body.threshold}`,
  );
  say(`  a spike of ${values[spikeAt]!.toFixed(0)} was planted at ${timestamps[spikeAt]}`);
  say(`  the first ${body.warmupPoints} points fill the rolling windows; anomalies after them:`);
  const anomalies = body.anomalies.filter((a) => a.index >= body.warmupPoints);
  for (const a of anomalies) {
    const drivers = a.features.map((f) => `${f.feature} (z ${f.robustZ.toFixed(1)})`).join(', ');
    say(`  anomaly at ${a.timestamp}: score ${a.score.toFixed(4)}; driven by ${drivers}`);
  }
  if (anomalies.length === 0) say('  no point crossed the threshold');
}

main().catch(async (err) => {
  say(`failed: ${(err as Error).stack ?? err}`);
  await stopAll(1);
});
