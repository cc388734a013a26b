import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRetrainSchedule, requestRetrain, retrainScheduleId } from '../../clients/schedules.js';
import { loadConfig } from '../../config/config.js';
import { parseDetectorSpec } from '../../ml/spec.js';
import { createFileModelRegistry } from '../../registry/model-registry.js';
import { createTrainingWorker } from '../../workers/training-worker.js';
import { startDevServer } from '../support/temporal.js';

describe('retraining schedule on a real Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  let dataDir: string;

  beforeAll(async () => {
    env = await startDevServer();
    dataDir = await mkdtemp(join(tmpdir(), 'schedule-it-'));
  });

  afterAll(async () => {
    await env?.teardown();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('is created once, follows the spec on a second call, and never runs two trainings at once', async () => {
    const spec = parseDetectorSpec({
      name: 'sched',
      source: { kind: 'simulated', days: 3, stepSeconds: 300 },
      model: { trees: 30 },
    });
    const config = loadConfig({ DATA_DIR: dataDir, TRAINING_TASK_QUEUE: 'training-sched' });
    const worker = await createTrainingWorker({ connection: env.nativeConnection, config });

    const handle = await ensureRetrainSchedule(env.client, { spec, taskQueue: 'training-sched' });
    const created = await handle.describe();
    expect(created.spec.intervals).toMatchObject([{ every: 86_400_000 }]);
    expect(created.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
    expect(created.action).toMatchObject({ workflowType: 'trainDetector', taskQueue: 'training-sched' });

    const again = await ensureRetrainSchedule(env.client, {
      spec,
      taskQueue: 'training-sched',
      everyHours: 6,
    });
    expect(again.scheduleId).toBe(handle.scheduleId);
    expect((await again.describe()).spec.intervals).toMatchObject([{ every: 6 * 3_600_000 }]);

    const registry = createFileModelRegistry(dataDir);
    await worker.runUntil(async () => {
      expect(await requestRetrain(env.client, { spec, taskQueue: 'training-sched' })).toBe('started');
      await waitFor(async () => (await handle.describe()).info.runningActions.length === 1);
      // A drift request while the first retrain still runs is skipped, not queued.
      expect(await requestRetrain(env.client, { spec, taskQueue: 'training-sched' })).toBe('already-running');
      await waitFor(async () => (await registry.getAlias('sched', 'champion')) === 1);
      await waitFor(async () => (await handle.describe()).info.runningActions.length === 0);
    });

    const info = (await handle.describe()).info;
    expect(info.recentActions).toHaveLength(1);
    expect((await registry.listVersions('sched')).map((v) => v.version)).toEqual([1]);
    await handle.delete();
  });

  it('creates the schedule when a drift request finds none, and starts its run', async () => {
    const spec = parseDetectorSpec({
      name: 'sched-late',
      source: { kind: 'simulated', days: 2, stepSeconds: 300 },
      model: { trees: 20 },
    });
    const config = loadConfig({ DATA_DIR: dataDir, TRAINING_TASK_QUEUE: 'training-sched-late' });
    const worker = await createTrainingWorker({ connection: env.nativeConnection, config });
    const registry = createFileModelRegistry(dataDir);

    await worker.runUntil(async () => {
      expect(await requestRetrain(env.client, { spec, taskQueue: 'training-sched-late' })).toBe('started');
      await waitFor(async () => (await registry.getAlias('sched-late', 'champion')) === 1);
    });

    const handle = env.client.schedule.getHandle(retrainScheduleId('sched-late'));
    const described = await handle.describe();
    expect(described.action).toMatchObject({
      workflowType: 'trainDetector',
      taskQueue: 'training-sched-late',
    });
    expect(described.info.recentActions).toHaveLength(1);
    await handle.delete();
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
