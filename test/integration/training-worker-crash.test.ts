import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberProgress } from '../../activities/training.js';
import { createFileModelRegistry } from '../../registry/model-registry.js';
import { trainDetector } from '../../workflows/train-detector.js';
import { startDevServer } from '../support/temporal.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** The training worker as production runs it: its own process, configured by environment. */
function startWorkerProcess(env: TestWorkflowEnvironment, dataDir: string): ChildProcess {
  // Node itself with tsx as a loader: the `tsx` command would be a wrapper whose death leaves the
  // real worker running as an orphan.
  return spawn(process.execPath, ['--import', 'tsx', 'workers/training-worker.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: env.address,
      DATA_DIR: dataDir,
      TRAINING_TASK_QUEUE: 'training-crash',
      CODE_VERSION: 'crash-test',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once('exit', () => done());
  });
}

describe('training worker killed mid-training', () => {
  let env: TestWorkflowEnvironment;
  let dataDir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    env = await startDevServer();
    dataDir = await mkdtemp(join(tmpdir(), 'crash-it-'));
  });

  afterAll(async () => {
    for (const child of children) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await env?.teardown();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  // A kill, a heartbeat timeout and a resumed 40-epoch training: over two minutes on an idle machine.
  it('completes on a new worker with exactly one new model version', async () => {
    const first = startWorkerProcess(env, dataDir);
    children.push(first);
    const handle = await env.client.workflow.start(trainDetector, {
      taskQueue: 'training-crash',
      workflowId: 'train-crash',
      args: [
        {
          name: 'crash',
          source: { kind: 'simulated', days: 3, stepSeconds: 300, seed: 4 },
          model: { trees: 50 },
          models: [
            { kind: 'isolation-forest' },
            { kind: 'lstm', options: { epochs: 40, units: 8, maxTrainWindows: 600 } },
          ],
        } as never,
      ],
    });

    // Kill -9 once the LSTM has reported a checkpoint: the process dies inside the long activity.
    const deadline = Date.now() + 120_000;
    let killedAt: MemberProgress | undefined;
    for (;;) {
      killedAt = await lstmProgress(handle);
      if (killedAt?.checkpointId && killedAt.epoch !== undefined && killedAt.epoch < 40) break;
      if (Date.now() > deadline) throw new Error('the LSTM member never reported an epoch');
      await new Promise((r) => setTimeout(r, 250));
    }
    first.kill('SIGKILL');
    await exited(first);
    expect(first.signalCode).toBe('SIGKILL');

    const second = startWorkerProcess(env, dataDir);
    children.push(second);
    const result = await handle.result();

    expect(result).toMatchObject({ detector: 'crash', version: 1, promoted: true });
    const registry = createFileModelRegistry(dataDir);
    expect((await registry.listVersions('crash')).map((v) => v.version)).toEqual([1]);
    expect(await registry.getAlias('crash', 'champion')).toBe(1);

    // The LSTM member ran twice: the attempt on the killed worker timed out on its heartbeat.
    const history = await handle.fetchHistory();
    const attempts = (history.events ?? [])
      .map((e) => e.activityTaskStartedEventAttributes?.attempt)
      .filter((a): a is number => typeof a === 'number');
    expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);

    // The retry continued from the killed attempt's checkpoint instead of starting over.
    const lstmResult = (history.events ?? [])
      .map((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data)
      .filter((d): d is Uint8Array => d instanceof Uint8Array)
      .map((d) => JSON.parse(new TextDecoder().decode(d)) as { kind?: string; resumedFrom?: number })
      .find((r) => r.kind === 'lstm');
    expect(lstmResult?.resumedFrom).toBeGreaterThanOrEqual(killedAt!.epoch!);
  }, 360_000);
});

async function lstmProgress(handle: {
  describe(): Promise<{ raw: { pendingActivities?: unknown[] | null } }>;
}): Promise<MemberProgress | undefined> {
  const { raw } = await handle.describe();
  for (const activity of (raw.pendingActivities ?? []) as {
    heartbeatDetails?: { payloads?: { data?: Uint8Array | null }[] | null } | null;
  }[]) {
    const data = activity.heartbeatDetails?.payloads?.[0]?.data;
    if (!data) continue;
    const progress = JSON.parse(new TextDecoder().decode(data)) as MemberProgress;
    if (progress.kind === 'lstm') return progress;
  }
  return undefined;
}
