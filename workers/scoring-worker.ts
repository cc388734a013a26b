import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { createForecastingActivities } from '../activities/forecasting.js';
import { createScheduleActivities } from '../activities/schedules.js';
import { type AlertSink, createLoggedAlerts, createScoringActivities } from '../activities/scoring.js';
import { createSourceReaders } from '../activities/sources.js';
import { createAlertmanagerClient, openAlertNotifier } from '../clients/alertmanager.js';
import { connectKubernetes, type KubernetesClient } from '../clients/kubernetes.js';
import { createDetectorMetrics, type DetectorMetrics } from '../clients/metrics.js';
import { type AppConfig, loadConfig } from '../config/config.js';
import { createFileModelRegistry } from '../registry/model-registry.js';
import { createFileShadowLog } from '../registry/shadow-log.js';
import { simulateSource } from '../sim/source.js';
import { WORKFLOWS_PATH } from './training-worker.js';

export interface ScoringWorkerOptions {
  readonly connection: NativeConnection;
  readonly config: AppConfig;
  readonly metrics: DetectorMetrics;
  readonly alerts: AlertSink;
  /**
   * Concurrent scoring steps. A step scores one window in milliseconds, so one worker serves
   * many detectors. @default 8
   */
  readonly maxConcurrentActivityTaskExecutions?: number;
  /** Scoring loops kept in the worker's cache between steps. @default 200 */
  readonly maxCachedWorkflows?: number;
  /**
   * Client that creates each detector's retraining Schedule.
   * @default a client of `config.temporalAddress`, connected on first use
   */
  readonly client?: Client;
  /**
   * Reads workloads' requests and patches HPAs for forecastCapacity; without it, specs must give
   * requests and HPA patches are skipped with a reason. `main` connects as `config.kubernetesAccess` says.
   */
  readonly kubernetes?: KubernetesClient;
}

/**
 * Builds the worker that serves the scoring task queue: scoreContinuously and forecastCapacity,
 * with their activities. Both run steadily for months, so they share the process and its limits.
 */
export async function createScoringWorker(options: ScoringWorkerOptions): Promise<Worker> {
  const { config } = options;
  const activities = createScoringActivities({
    registry: createFileModelRegistry(config.dataDir),
    sources: createSourceReaders({
      ...(config.prometheusUrl ? { defaultPrometheusUrl: config.prometheusUrl } : {}),
      simulate: simulateSource,
    }),
    metrics: options.metrics,
    alerts: options.alerts,
    shadowLog: createFileShadowLog(config.dataDir),
  });
  let client: Promise<Client> | undefined = options.client ? Promise.resolve(options.client) : undefined;
  const schedules = createScheduleActivities({
    client: () => {
      client ??= Connection.connect({ address: config.temporalAddress }).then(
        (connection) => new Client({ connection, namespace: config.temporalNamespace }),
      );
      return client;
    },
  });
  const forecasting = createForecastingActivities({
    metrics: options.metrics,
    ...(config.prometheusUrl ? { defaultPrometheusUrl: config.prometheusUrl } : {}),
    ...(options.kubernetes ? { kubernetes: options.kubernetes } : {}),
  });
  return Worker.create({
    connection: options.connection,
    namespace: config.temporalNamespace,
    taskQueue: config.scoringTaskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities: { ...activities, ...forecasting, ...schedules },
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 8,
    maxConcurrentWorkflowTaskExecutions: 20,
    maxCachedWorkflows: options.maxCachedWorkflows ?? 200,
  });
}

function log(msg: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ msg, ...fields }));
}

function serveMetrics(registry: Registry, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => response.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: Error) => response.writeHead(500).end(err.message),
    );
  });
  return new Promise((resolve) => server.listen(port, () => resolve(server)));
}

async function main(): Promise<void> {
  const config = loadConfig();
  const registry = new Registry();
  const metrics = createDetectorMetrics(registry);
  const notifier = config.alertmanagerUrl
    ? await openAlertNotifier({
        client: createAlertmanagerClient({ url: config.alertmanagerUrl }),
        // The outbox keeps firing and undelivered alerts across restarts of this process.
        outboxPath: join(config.dataDir, 'alert-outbox.json'),
      })
    : undefined;
  notifier?.start();
  const alerts = notifier ?? createLoggedAlerts(log);

  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const kubernetes = connectKubernetes(config.kubernetesAccess, {
    ...(config.kubeContext ? { context: config.kubeContext } : {}),
  });
  const worker = await createScoringWorker({
    connection,
    config,
    metrics,
    alerts,
    ...(kubernetes ? { kubernetes: kubernetes.client } : {}),
  });
  const server = await serveMetrics(registry, config.scoringMetricsPort);
  const address = server.address();
  log('scoring worker started', {
    taskQueue: config.scoringTaskQueue,
    serves: ['scoreContinuously', 'forecastCapacity'],
    temporal: config.temporalAddress,
    namespace: config.temporalNamespace,
    dataDir: config.dataDir,
    alerts: config.alertmanagerUrl ?? 'logged',
    kubernetes: kubernetes?.via ?? 'none (forecastCapacity needs requests in its spec and patches no HPA)',
    metricsPort: typeof address === 'object' && address ? address.port : config.scoringMetricsPort,
  });
  // Worker.run resolves after SIGINT/SIGTERM once in-flight tasks finish (the SDK installs the handlers).
  try {
    await worker.run();
  } finally {
    notifier?.stop();
    await notifier?.flush();
    server.close();
    await connection.close();
    log('scoring worker stopped');
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
