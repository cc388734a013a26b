import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { loadConfig } from '../../config/config.js';
import { parseCsvSeries } from '../../ml/series.js';
import { createFileModelRegistry } from '../../registry/model-registry.js';
import { recordHistory } from '../../scripts/record-history.js';
import { createTrainingWorker } from '../../workers/training-worker.js';
import { trainDetector } from '../../workflows/train-detector.js';
import { startDevServer } from '../support/temporal.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TAXI = resolve(ROOT, 'datasets/nab/realKnownCause/nyc_taxi.csv');
const WINDOWS = resolve(ROOT, 'datasets/nab/windows.json');

describe('trainDetector on a real Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  let dataDir: string;

  beforeAll(async () => {
    env = await startDevServer();
    dataDir = await mkdtemp(join(tmpdir(), 'train-it-'));
  });

  afterAll(async () => {
    await env?.teardown();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('trains, registers and promotes a champion that POST /predict then serves', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, TRAINING_TASK_QUEUE: 'training-it' });
    const worker = await createTrainingWorker({ connection: env.nativeConnection, config });
    const spec = {
      name: 'nyc-taxi',
      source: { kind: 'csv', path: TAXI, windowsPath: WINDOWS, windowsKey: 'realKnownCause/nyc_taxi.csv' },
      model: { trees: 50, seed: 3 },
    };

    const first = await worker.runUntil(
      env.client.workflow.execute(trainDetector, {
        taskQueue: 'training-it',
        workflowId: 'train-nyc-taxi-1',
        args: [spec as never],
      }),
    );

    expect(first).toMatchObject({ detector: 'nyc-taxi', version: 1, promoted: true, championVersion: 1 });
    // Months of half-hourly data: the validation split covers whole days.
    expect(first.warnings).toBeUndefined();
    if (process.env.RECORD_HISTORIES) {
      await recordHistory(
        env.client,
        'train-nyc-taxi-1',
        resolve(ROOT, 'test/fixtures/histories/train-detector.json'),
      );
    }
    expect(first.metrics.recall).toBeGreaterThanOrEqual(0.75);
    expect(first.metrics.f1).toBeGreaterThan(0.4);
    expect(first.metrics.plantedEvents).toBeGreaterThan(0);

    const registry = createFileModelRegistry(dataDir);
    const meta = await registry.getMeta('nyc-taxi', 1);
    expect(meta.dataRange.points).toBe(10320);
    expect(meta.codeVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(meta.parameters).toMatchObject({ model: { trees: 50, sampleSize: 256, seed: 3 } });
    expect(await registry.getAlias('nyc-taxi', 'champion')).toBe(1);

    // A second run finds a champion, evaluates both on the same held-back data and records the decision.
    const secondWorker = await createTrainingWorker({ connection: env.nativeConnection, config });
    const second = await secondWorker.runUntil(
      env.client.workflow.execute(trainDetector, {
        taskQueue: 'training-it',
        workflowId: 'train-nyc-taxi-2',
        args: [{ ...spec, model: { trees: 5, sampleSize: 8, seed: 4 } } as never],
      }),
    );
    expect(second.version).toBe(2);
    expect(second.promoted).toBe(second.metrics.f1! > second.championMetrics!.f1!);
    expect(second.championVersion).toBe(second.promoted ? 2 : 1);
    const decisions = await registry.decisions('nyc-taxi');
    expect(decisions.map((d) => [d.action, d.version])).toEqual([
      ['promote', 1],
      [second.promoted ? 'promote' : 'reject', 2],
    ]);
    expect((await registry.getMeta('nyc-taxi', 2)).parentVersion).toBe(1);
    if (process.env.RECORD_HISTORIES) {
      await recordHistory(
        env.client,
        'train-nyc-taxi-2',
        resolve(ROOT, 'test/fixtures/histories/train-detector-with-champion.json'),
      );
    }
    await registry.setAlias({
      detector: 'nyc-taxi',
      alias: 'champion',
      action: 'rollback',
      version: 1,
      reason: 'test pins v1',
    });

    // Score the last week with a planted spike: the spike is flagged and explained.
    const series = parseCsvSeries('taxi', await readFile(TAXI, 'utf8'));
    const from = series.values.length - 336;
    const values = Array.from(series.values.subarray(from));
    const spikeAt = 300;
    values[spikeAt] = 2.5 * Math.max(...values);
    const app = await buildApp({ registry, logger: false });
    const response = await app.inject({
      method: 'POST',
      url: '/predict',
      payload: {
        detector: 'nyc-taxi',
        timestamps: Array.from(series.timestampsMs.subarray(from), (t) => new Date(t).toISOString()),
        values,
      },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.version).toBe(1);
    expect(body.scores).toHaveLength(336);
    expect(body.flags[spikeAt]).toBe(true);
    expect(body.scores[spikeAt]).toBeGreaterThanOrEqual(body.threshold);
    const spike = body.anomalies.find((a: { index: number }) => a.index === spikeAt);
    expect(spike.features[0].feature).toMatch(/value|zscore|diff/);
    const flaggedShare = body.flags.filter(Boolean).length / body.flags.length;
    expect(flaggedShare).toBeLessThan(0.1);
    await app.close();
  });

  it('fails fast, without retries, when the spec names a file that does not exist', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, TRAINING_TASK_QUEUE: 'training-it-bad' });
    const worker = await createTrainingWorker({ connection: env.nativeConnection, config });
    const missing = join(dataDir, 'missing.csv');
    await writeFile(join(dataDir, 'placeholder'), '');

    const run = worker.runUntil(
      env.client.workflow.execute(trainDetector, {
        taskQueue: 'training-it-bad',
        workflowId: 'train-missing',
        args: [{ name: 'missing', source: { kind: 'csv', path: missing } } as never],
      }),
    );

    await expect(run).rejects.toMatchObject({
      cause: { cause: { message: expect.stringContaining(`'source.path' (${missing}) cannot be read`) } },
    });
  });
});
