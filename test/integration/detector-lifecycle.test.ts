import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertSink, ScoreStepResult } from '../../activities/scoring.js';
import { createDetectorMetrics } from '../../clients/metrics.js';
import { loadConfig } from '../../config/config.js';
import {
  ENSEMBLE_SCHEMA_VERSION,
  type EnsembleDetectorModel,
  loadDetectorModel,
} from '../../ml/detector-model.js';
import { createFileModelRegistry } from '../../registry/model-registry.js';
import { recordHistory } from '../../scripts/record-history.js';
import { createScoringWorker } from '../../workers/scoring-worker.js';
import { createTrainingWorker } from '../../workers/training-worker.js';
import { rollbackDetector } from '../../workflows/rollback-detector.js';
import { pauseSignal, scoreContinuously, statusQuery } from '../../workflows/score-continuously.js';
import { approvePromotionUpdate, promotionQuery, trainDetector } from '../../workflows/train-detector.js';
import { startDevServer } from '../support/temporal.js';

const HISTORIES = resolve(import.meta.dirname, '../fixtures/histories');

describe('detector lifecycle on a real Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  let dataDir: string;

  beforeAll(async () => {
    env = await startDevServer();
    dataDir = await mkdtemp(join(tmpdir(), 'lifecycle-it-'));
  });

  afterAll(async () => {
    await env?.teardown();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('trains an ensemble, promotes the next version only on approval, and rolls back', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, TRAINING_TASK_QUEUE: 'training-life' });
    const registry = createFileModelRegistry(dataDir);
    const worker = await createTrainingWorker({ connection: env.nativeConnection, config });
    // Pinned, so that champion and challenger meet on the same points whenever the test runs.
    const source = {
      kind: 'simulated',
      workload: 'shop/frontend',
      days: 4,
      stepSeconds: 300,
      seed: 5,
      endTime: '2026-12-03T12:17:00Z',
    };

    await worker.runUntil(async () => {
      const first = await env.client.workflow.execute(trainDetector, {
        taskQueue: 'training-life',
        workflowId: 'train-life-1',
        // A champion that pages on a fifth of all points: any sound challenger beats its F1.
        args: [
          {
            name: 'life',
            source,
            model: { trees: 2, sampleSize: 4, seed: 2 },
            targetAnomalyRate: 0.2,
          } as never,
        ],
      });
      expect(first).toMatchObject({ version: 1, promoted: true, championVersion: 1 });

      const handle = await env.client.workflow.start(trainDetector, {
        taskQueue: 'training-life',
        workflowId: 'train-life-2',
        args: [
          {
            name: 'life',
            source,
            model: { trees: 100, seed: 3 },
            models: [
              { kind: 'isolation-forest', weight: 2 },
              { kind: 'prophet', driftPoints: 48 },
            ],
            promotion: { requireApproval: true },
          } as never,
        ],
      });
      await waitFor(async () => {
        const { stage } = await handle.query(promotionQuery);
        if (stage === 'decided')
          throw new Error(`decided without approval: ${(await handle.result()).reason}`);
        return stage === 'awaiting-approval';
      }, 150_000);
      await expect(
        handle.executeUpdate(approvePromotionUpdate, { args: [{ by: 'sre@example.com', reason: ' ' }] }),
      ).rejects.toMatchObject({ cause: { message: expect.stringMatching(/'reason' \(" "\) must say why/) } });
      expect(await registry.getAlias('life', 'champion')).toBe(1);

      const answer = await handle.executeUpdate(approvePromotionUpdate, {
        args: [{ by: 'sre@example.com', reason: 'checked the planted-anomaly report' }],
      });
      expect(answer).toBe('version 2 approved by sre@example.com');
      const second = await handle.result();
      expect(second).toMatchObject({ version: 2, promoted: true, championVersion: 2 });
      expect(second.metrics.f1).toBeGreaterThan(second.championMetrics!.f1!);

      const { model } = await registry.getVersion<never>('life', 2);
      expect((model as { schemaVersion: number }).schemaVersion).toBe(ENSEMBLE_SCHEMA_VERSION);
      // The Prophet member brings the forecast drift it asked for, weighed like the others.
      const members = (model as EnsembleDetectorModel).members;
      expect(members.map((m) => m.kind).sort()).toEqual(['forecast-drift', 'isolation-forest', 'prophet']);
      expect(members.find((m) => m.kind === 'forecast-drift')).toMatchObject({
        source: 'prophet',
        points: 48,
      });
      expect((await loadDetectorModel(model)).model.threshold).toBeCloseTo(0.998, 6);

      const rolledBack = await env.client.workflow.execute(rollbackDetector, {
        taskQueue: 'training-life',
        workflowId: 'rollback-life-1',
        args: [{ detector: 'life', version: 1, reason: 'ensemble pages too often', by: 'sre@example.com' }],
      });
      expect(rolledBack).toEqual({ detector: 'life', version: 1, previousVersion: 2 });
    });

    expect(await registry.getAlias('life', 'champion')).toBe(1);
    const decisions = await registry.decisions('life');
    expect(decisions.map((d) => [d.alias, d.action, d.version])).toEqual([
      ['champion', 'promote', 1],
      ['champion', 'promote', 2],
      ['champion', 'rollback', 1],
      ['challenger', 'rollback', 1],
    ]);
    expect(decisions[1]!.reason).toMatch(/^approved by sre@example.com: checked the planted-anomaly report/);
    expect(decisions[1]!.metrics).toMatchObject({
      f1: second_f1(decisions),
      champion_f1: expect.any(Number),
    });
    expect(decisions[2]!.reason).toBe('ensemble pages too often (by sre@example.com)');

    if (process.env.RECORD_HISTORIES) {
      await recordHistory(env.client, 'train-life-1', join(HISTORIES, 'train-detector-ensemble.json'));
      await recordHistory(env.client, 'train-life-2', join(HISTORIES, 'train-detector-approval.json'));
      await recordHistory(env.client, 'rollback-life-1', join(HISTORIES, 'rollback-detector.json'));
    }
  });

  it('scores the newest points every step, exports them, and continues as new', async () => {
    const config = loadConfig({
      DATA_DIR: dataDir,
      TRAINING_TASK_QUEUE: 'training-live',
      SCORING_TASK_QUEUE: 'scoring-live',
    });
    const training = await createTrainingWorker({ connection: env.nativeConnection, config });
    const metricsRegistry = new Registry();
    const alerts: unknown[] = [];
    const sink: AlertSink = {
      fire: async (alert) => alerts.push(['fire', alert]),
      resolve: async (identity) => alerts.push(['resolve', identity]),
    };
    const scoring = await createScoringWorker({
      connection: env.nativeConnection,
      client: env.client,
      config,
      metrics: createDetectorMetrics(metricsRegistry),
      alerts: sink,
    });
    const spec = {
      name: 'live',
      source: { kind: 'simulated', workload: 'shop/frontend', days: 0.2, stepSeconds: 1, seed: 9 },
      model: { trees: 50 },
      scoring: { stepSeconds: 2, continueAsNewAfterSteps: 3 },
    };

    const status = await scoring.runUntil(
      training.runUntil(async () => {
        const trained = await env.client.workflow.execute(trainDetector, {
          taskQueue: 'training-live',
          workflowId: 'train-live-1',
          args: [spec as never],
        });
        // 0.2 days of history leave the validation split under an hour of the daily cycle.
        expect(trained.warnings).toEqual([
          expect.stringMatching(/^the validation split covers 1\.0 h .*less than a day.* 5 days of history/),
        ]);
        const handle = await env.client.workflow.start(scoreContinuously, {
          taskQueue: 'scoring-live',
          workflowId: 'score-live',
          args: [{ spec: spec as never, trainingTaskQueue: 'training-live' }],
        });
        const firstRunId = handle.firstExecutionRunId;
        await waitFor(async () => (await handle.query(statusQuery)).totalSteps >= 5, 30_000);
        await handle.signal(pauseSignal);
        await waitFor(async () => (await handle.query(statusQuery)).paused);
        const paused = await handle.query(statusQuery);
        if (process.env.RECORD_HISTORIES) {
          const history = await env.client.workflow.getHandle('score-live', firstRunId).fetchHistory();
          const { historyToJSON } = await import('@temporalio/common/lib/proto-utils.js');
          const { writeFile } = await import('node:fs/promises');
          await writeFile(join(HISTORIES, 'score-continuously.json'), `${historyToJSON(history)}\n`);
        }
        await handle.terminate('test finished');
        return paused;
      }),
    );

    expect(status).toMatchObject({ detector: 'live', modelVersion: 1, paused: true, gaps: [] });
    // Scoring put the detector's daily retraining in place.
    const schedule = await env.client.schedule.getHandle('retrain-schedule-live').describe();
    expect(schedule.action).toMatchObject({ workflowType: 'trainDetector', taskQueue: 'training-live' });
    expect(schedule.spec.intervals?.map((i) => Number(i.every))).toEqual([86_400_000]);
    expect(status.runs).toBeGreaterThanOrEqual(1);
    expect(status.totalPoints).toBeGreaterThanOrEqual(4);
    expect(status.lagMs).toBeLessThan(5_000);
    const exported = await metricsRegistry.getSingleMetricAsString('anomaly_detector_score');
    expect(exported).toMatch(
      /anomaly_detector_score\{detector="live",namespace="shop",workload="frontend",metric="cpu_usage_cores"\} [0-9.]+/,
    );
    expect(await metricsRegistry.getSingleMetricAsString('anomaly_detector_model_info')).toContain(
      'version="1"} 1',
    );
  });

  it('a scoring worker restart neither skips nor scores twice a point, nor alerts twice', async () => {
    const config = loadConfig({
      DATA_DIR: dataDir,
      TRAINING_TASK_QUEUE: 'training-restart',
      SCORING_TASK_QUEUE: 'scoring-restart',
    });
    const alerts: string[] = [];
    const sink: AlertSink = {
      fire: async () => alerts.push('fire'),
      resolve: async () => alerts.push('resolve'),
    };
    const scoringWorker = () =>
      createScoringWorker({
        connection: env.nativeConnection,
        client: env.client,
        config,
        metrics: createDetectorMetrics(new Registry()),
        alerts: sink,
      });
    const spec = {
      name: 'restart',
      source: { kind: 'simulated', workload: 'shop/frontend', days: 0.2, stepSeconds: 1, seed: 11 },
      model: { trees: 50 },
      scoring: { stepSeconds: 2, alertAfterSteps: 1, resolveAfterSteps: 2 },
      retrain: { onDrift: false },
    };
    const training = await createTrainingWorker({ connection: env.nativeConnection, config });
    await training.runUntil(
      env.client.workflow.execute(trainDetector, {
        taskQueue: 'training-restart',
        workflowId: 'train-restart-1',
        args: [spec as never],
      }),
    );

    const handle = await env.client.workflow.start(scoreContinuously, {
      taskQueue: 'scoring-restart',
      workflowId: 'score-restart',
      args: [{ spec: spec as never, trainingTaskQueue: 'training-restart' }],
    });
    const first = await scoringWorker();
    await first.runUntil(waitFor(async () => (await handle.query(statusQuery)).totalSteps >= 3, 30_000));
    // No worker polls the queue for a while: the steps due meanwhile wait for the next worker.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const second = await scoringWorker();
    const status = await second.runUntil(async () => {
      await waitFor(async () => (await handle.query(statusQuery)).totalSteps >= 8, 30_000);
      await handle.signal(pauseSignal);
      await waitFor(async () => (await handle.query(statusQuery)).paused);
      return handle.query(statusQuery);
    });
    await handle.terminate('test finished');

    const steps = await scoreSteps(handle);
    expect(steps.length).toBeGreaterThanOrEqual(8);
    // Each step starts where the previous one's newest point ended: the restart's catch-up step
    // covers the seconds without a worker, once.
    for (let i = 1; i < steps.length; i++) {
      expect(steps[i]!.afterMs).toBe(steps[i - 1]!.lastTimestampMs ?? steps[i - 1]!.afterMs);
    }
    const caughtUp = Math.max(...steps.map((step) => step.points));
    expect(caughtUp).toBeGreaterThanOrEqual(5);
    expect(status.totalPoints).toBe(steps.reduce((n, step) => n + step.points, 0));
    expect(status.gaps).toEqual([]);
    // Every fire was followed by its resolve before the next fire: one alert per episode.
    expect(alerts.join(' ')).not.toMatch(/fire fire/);
    expect(alerts.filter((a) => a === 'fire')).toHaveLength(status.alertsFired);
  });
});

/** The input window and the newest point of every scoreStep the loop's first run completed. */
async function scoreSteps(handle: WorkflowHandle) {
  const history = await handle.fetchHistory();
  const scheduled = new Map<string, { afterMs: number }>();
  const steps: { afterMs: number; points: number; lastTimestampMs?: number }[] = [];
  for (const event of history.events ?? []) {
    const attributes = event.activityTaskScheduledEventAttributes;
    if (attributes?.activityType?.name === 'scoreStep') {
      const [input] = attributes.input!.payloads!.map((p) => defaultPayloadConverter.fromPayload(p));
      scheduled.set(String(event.eventId), input as { afterMs: number });
    }
    const completed = event.activityTaskCompletedEventAttributes;
    const input = completed && scheduled.get(String(completed.scheduledEventId));
    if (completed && input) {
      const result = defaultPayloadConverter.fromPayload<ScoreStepResult>(completed.result!.payloads![0]!);
      steps.push({
        afterMs: input.afterMs,
        points: result.points,
        ...(result.lastTimestampMs !== undefined ? { lastTimestampMs: result.lastTimestampMs } : {}),
      });
    }
  }
  return steps;
}

function second_f1(decisions: { metrics?: Record<string, number> }[]): number {
  return decisions[1]!.metrics!.f1!;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
