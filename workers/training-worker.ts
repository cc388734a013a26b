import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createSourceReaders } from '../activities/sources.js';
import { createTrainingActivities } from '../activities/training.js';
import { type AppConfig, loadConfig } from '../config/config.js';
import { createFileArtifactStore } from '../registry/artifact-store.js';
import { createFileModelRegistry } from '../registry/model-registry.js';
import { createFileShadowLog } from '../registry/shadow-log.js';
import { simulateSource } from '../sim/source.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface TrainingWorkerOptions {
  readonly connection: NativeConnection;
  readonly config: AppConfig;
  /** Concurrent training activities; each holds a core while it fits. @default 2 */
  readonly maxConcurrentActivityTaskExecutions?: number;
}

/** Builds the worker that serves the training task queue: the trainDetector workflow and its activities. */
export async function createTrainingWorker(options: TrainingWorkerOptions): Promise<Worker> {
  const { config } = options;
  const activities = createTrainingActivities({
    store: createFileArtifactStore(config.dataDir),
    registry: createFileModelRegistry(config.dataDir),
    sources: createSourceReaders({
      ...(config.prometheusUrl ? { defaultPrometheusUrl: config.prometheusUrl } : {}),
      simulate: simulateSource,
    }),
    codeVersion: config.codeVersion,
    shadowLog: createFileShadowLog(config.dataDir),
  });
  return Worker.create({
    connection: options.connection,
    namespace: config.temporalNamespace,
    taskQueue: config.trainingTaskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 2,
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const worker = await createTrainingWorker({ connection, config });
  console.log(
    JSON.stringify({
      msg: 'training worker started',
      taskQueue: config.trainingTaskQueue,
      temporal: config.temporalAddress,
      namespace: config.temporalNamespace,
      dataDir: config.dataDir,
      codeVersion: config.codeVersion,
    }),
  );
  // Worker.run resolves after SIGINT/SIGTERM once in-flight tasks finish (the SDK installs the handlers).
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
