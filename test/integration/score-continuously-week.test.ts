import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  FeatureDriftInput,
  FeatureDriftResult,
  NotifyAlertInput,
  ScoreStepInput,
  ScoreStepResult,
} from '../../activities/scoring.js';
import type { EvaluationMetrics } from '../../activities/training.js';
import { retrainScheduleAction } from '../../clients/schedules.js';
import { type DetectorSpec, parseDetectorSpec } from '../../ml/spec.js';
import { WORKFLOWS_PATH } from '../../workers/training-worker.js';
import { type ScoringGap, scoreContinuously, statusQuery } from '../../workflows/score-continuously.js';
import { startTimeSkippingServer } from '../support/temporal.js';

const HISTORIES = resolve(import.meta.dirname, '../fixtures/histories');
const STEP_MS = 15 * 60_000;
const DAY_MS = 86_400_000;

/**
 * A simulated week of the scoring loop on the time-skipping server, with fake activities: the
 * workflow logic (timers, continue-as-new, catch-up, alert episodes, drift, retrain, promotion)
 * is what is under test, in seconds instead of days. The time-skipping server has no Schedules,
 * so the test plays the detector's retraining schedule: it starts the schedule's action every
 * `retrain.everyHours` and on the loop's drift requests, skipping while a run still trains, as
 * the overlap policy SKIP does (the real schedule is tested on the dev server).
 */
describe('scoreContinuously through a simulated week', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await startTimeSkippingServer();
  });

  afterAll(async () => {
    await env?.teardown();
  });

  it('scores every step once, alerts once per episode, retrains on schedule and on drift, and follows each promotion', async () => {
    const spec = parseDetectorSpec({
      name: 'week',
      source: { kind: 'simulated', stepSeconds: 900 },
      scoring: { continueAsNewAfterSteps: 100, driftMinPoints: 96, resolveAfterSteps: 4 },
      retrain: { everyHours: 72 },
    });
    const world = createFakeWorld((trigger) => startScheduledRun(env, spec, trigger));
    const scoring = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'scoring-week',
      workflowsPath: WORKFLOWS_PATH,
      activities: world.scoringActivities,
    });
    const training = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'training-week',
      workflowsPath: WORKFLOWS_PATH,
      activities: world.trainingActivities,
    });

    const status = await scoring.runUntil(
      training.runUntil(async () => {
        const handle = await env.client.workflow.start(scoreContinuously, {
          taskQueue: 'scoring-week',
          workflowId: 'score-week',
          args: [{ spec, trainingTaskQueue: 'training-week' }],
        });
        for (let hours = 24; hours <= 7 * 24; hours += 24) {
          await env.sleep(DAY_MS);
          if (hours % spec.retrain.everyHours === 0) await world.schedule.fire('interval');
        }
        await world.schedule.idle();
        const result = await handle.query(statusQuery);
        await handle.terminate('end of the simulated week');
        if (process.env.RECORD_HISTORIES) {
          await recordRunWith(
            env,
            handle.firstExecutionRunId,
            '"requestRetrain"',
            'score-continuously-drift.json',
          );
          await recordRunWith(
            env,
            handle.firstExecutionRunId,
            '"checkFeatureDrift"',
            'score-continuously-feature-drift.json',
          );
        }
        return result;
      }),
    );

    // The steps lost to the outage are made up by one catch-up step, so the points all get scored.
    const steps = 7 * 96;
    expect(status.totalSteps).toBeGreaterThan(steps - 20);
    expect(status.totalSteps).toBeLessThan(steps - 5);
    expect(status.totalPoints).toBeGreaterThanOrEqual(steps - 1);
    expect(status.totalPoints).toBeLessThanOrEqual(steps + 1);
    expect(status.runs).toBeGreaterThanOrEqual(6);
    // The retraining schedule is ensured once, by the first run of the chain, not on continue-as-new.
    expect(world.schedulesEnsured).toBe(1);

    // Each step starts where the previous one ended: nothing skipped, nothing scored twice.
    for (let i = 1; i < world.scored.length; i++) {
      expect(world.scored[i]![0]).toBe(world.scored[i - 1]![1] + 1);
    }
    expect(status.totalPoints).toBe(world.scored.reduce((n, [a, b]) => n + b - a + 1, 0));

    // The outage shows as a gap that was caught up, not as lost points.
    expect(world.failedCalls).toBeGreaterThan(0);
    expect(status.gaps).toEqual([
      expect.objectContaining({ caughtUp: true, reason: expect.stringContaining('ECONNREFUSED') }),
    ]);
    expect(status.consecutiveFailures).toBe(0);

    // Two planted episodes, two alerts, each resolved once.
    expect(world.alerts.filter((a) => a.action === 'fire')).toHaveLength(2);
    expect(world.alerts.filter((a) => a.action === 'resolve')).toHaveLength(2);
    expect(status.alertsFired).toBe(2);
    expect(status.anomaliesOpen).toBe(0);

    // The schedule retrained on days 3 and 6. Version 2, trained on day 3, met the drift of day 4;
    // the loop asked for an early retrain, whose version 3 no longer drifted. Each run promoted
    // its version, and the loop scored with every new champion in turn.
    expect(world.schedule.runs).toEqual([
      { trigger: 'interval', version: 2 },
      { trigger: 'drift', version: 3 },
      { trigger: 'interval', version: 4 },
    ]);
    expect(world.schedule.skipped).toBe(0);
    expect(status.retrainsStarted).toBe(1);
    expect(world.champion).toBe(4);
    expect(status.modelVersion).toBe(4);
    expect(world.versionsScored).toEqual([1, 2, 3, 4]);
    expect(status.lastDriftPsi).toBeLessThan(0.25);

    // Each drift check also compared the features of the points since the previous check (or
    // since the model changed) with the model's training features, by time range, not by value.
    expect(world.featureDriftChecks.length).toBeGreaterThanOrEqual(5);
    for (const [k, [afterMs, untilMs]] of world.featureDriftChecks.entries()) {
      expect(untilMs - afterMs).toBeGreaterThanOrEqual((spec.scoring.driftMinPoints - 1) * STEP_MS);
      if (k > 0) expect(afterMs).toBeGreaterThanOrEqual(world.featureDriftChecks[k - 1]![1]);
    }
    expect(status.lastFeatureDrift).toEqual({ feature: 'zscore_60', psi: 0.01 });
  });

  it('after an outage longer than the catch-up limit, reports the skipped and the caught-up stretch apart', async () => {
    // The fake source is down from day 2.4 to 2.5 of its run (2.4 h); the loop catches up one hour.
    const spec = parseDetectorSpec({
      name: 'outage',
      source: { kind: 'simulated', stepSeconds: 900 },
      scoring: { maxCatchUpSteps: 4 },
      retrain: { onDrift: false },
    });
    const world = createFakeWorld(async () => {});
    const scoring = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'scoring-outage',
      workflowsPath: WORKFLOWS_PATH,
      activities: world.scoringActivities,
    });
    const status = await scoring.runUntil(async () => {
      const handle = await env.client.workflow.start(scoreContinuously, {
        taskQueue: 'scoring-outage',
        workflowId: 'score-outage',
        args: [{ spec, trainingTaskQueue: 'training-outage' }],
      });
      await env.sleep(3 * DAY_MS);
      const result = await handle.query(statusQuery);
      await handle.terminate('outage seen');
      return result;
    });

    expect(world.failedCalls).toBeGreaterThan(0);
    expect(status.gaps).toHaveLength(2);
    const [skipped, caughtUp] = status.gaps as [ScoringGap, ScoringGap];
    expect(skipped).toMatchObject({ caughtUp: false, reason: 'older than maxCatchUpSteps' });
    expect(caughtUp).toMatchObject({ caughtUp: true, reason: expect.stringContaining('ECONNREFUSED') });
    // The stretches meet without overlapping, and only the last four steps were scored late.
    expect(caughtUp.fromMs).toBe(skipped.toMs);
    expect(caughtUp.toMs - caughtUp.fromMs).toBe(4 * STEP_MS);
    expect(skipped.toMs - skipped.fromMs).toBeGreaterThanOrEqual(2.4 * 3_600_000 - 4 * STEP_MS);
    // The scored points have exactly one hole, the skipped stretch.
    const holes = world.scored.slice(1).filter(([first], i) => first !== world.scored[i]![1] + 1);
    expect(holes).toHaveLength(1);
    expect(status.consecutiveFailures).toBe(0);
  });
});

/** Writes the first run of the chain whose history holds `text` (a patch id, say) for replay tests. */
async function recordRunWith(env: TestWorkflowEnvironment, firstRunId: string, text: string, file: string) {
  let runId: string | undefined = firstRunId;
  while (runId) {
    const history = await env.client.workflow.getHandle('score-week', runId).fetchHistory();
    const json = historyToJSON(history);
    if (json.includes(text)) {
      await writeFile(join(HISTORIES, file), `${json}\n`, { flag: 'wx' }).catch(
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        },
      );
      return;
    }
    runId =
      history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  throw new Error(`no run of the chain holds '${text}'`);
}

type Trigger = 'interval' | 'drift';

/**
 * Starts what the retraining schedule's action starts, under the id a schedule would give it. Not
 * awaited through the time-skipping client, whose result() would unlock time skipping beside the
 * test's own sleeps; the fake training activities report the run's end instead.
 */
async function startScheduledRun(env: TestWorkflowEnvironment, spec: DetectorSpec, trigger: Trigger) {
  const action = retrainScheduleAction(spec, 'training-week');
  await env.client.workflow.start(action.workflowType, {
    workflowId: `${action.workflowId}-${trigger}-${Date.now()}`,
    taskQueue: action.taskQueue,
    args: action.args,
  });
}

/** The schedule's overlap policy SKIP: a firing while a run still trains starts nothing. */
function createFakeSchedule(start: (trigger: Trigger) => Promise<void>) {
  let training: Trigger | undefined;
  const schedule = {
    runs: [] as { trigger: Trigger; version: number }[],
    skipped: 0,
    async fire(trigger: Trigger): Promise<boolean> {
      if (training) {
        schedule.skipped++;
        return false;
      }
      training = trigger;
      await start(trigger);
      return true;
    },
    /** Called by the last activity of a training run. */
    finished(version: number): void {
      if (training) schedule.runs.push({ trigger: training, version });
      training = undefined;
    },
    async idle(): Promise<void> {
      while (training) await new Promise((resolve) => setTimeout(resolve, 50));
    },
  };
  return schedule;
}

function createFakeWorld(start: (trigger: Trigger) => Promise<void>) {
  const world = {
    champion: 1,
    versions: 1,
    schedule: createFakeSchedule(start),
    /** Day of the simulated week each version was trained on; version 1 before it began. */
    trainedOnDay: { 1: Number.NEGATIVE_INFINITY } as Record<number, number>,
    versionsScored: [] as number[],
    nowMs: 0,
    startMs: undefined as number | undefined,
    scored: [] as [number, number][],
    failedCalls: 0,
    /** Windows the loop asked to compare with the model's training features, [afterMs, untilMs]. */
    featureDriftChecks: [] as [number, number][],
    schedulesEnsured: 0,
    alerts: [] as NotifyAlertInput[],
    spread: 0,
    scoringActivities: {} as Record<string, (input: never) => Promise<unknown>>,
    trainingActivities: {} as Record<string, (input: never) => Promise<unknown>>,
  };
  const day = (ms: number) => (ms - world.startMs!) / DAY_MS;
  const anomalous = (ms: number) => {
    const d = day(ms);
    return (d > 1.5 && d < 1.55) || (d > 5.2 && d < 5.3);
  };

  world.scoringActivities = {
    async validateScoringSpec(input: unknown) {
      return parseDetectorSpec(input);
    },
    async ensureRetrainSchedule() {
      world.schedulesEnsured++;
      return 'retrain-schedule-week';
    },
    async requestRetrain() {
      return { started: await world.schedule.fire('drift') };
    },
    async scoreStep({ afterMs, untilMs }: ScoreStepInput): Promise<ScoreStepResult> {
      world.startMs ??= untilMs;
      world.nowMs = untilMs;
      if (world.versionsScored.at(-1) !== world.champion) world.versionsScored.push(world.champion);
      const d = day(untilMs);
      if (d > 2.4 && d < 2.5) {
        world.failedCalls++;
        throw new Error('connect ECONNREFUSED 127.0.0.1:9090');
      }
      const first = Math.floor(afterMs / STEP_MS) + 1;
      const last = Math.floor(untilMs / STEP_MS);
      const base = { version: world.champion, flagged: 0, maxScore: 0.5, threshold: 0.998, topFeatures: [] };
      if (last < first) return { ...base, points: 0, scoreBins: [] };
      world.scored.push([first, last]);

      const bins = new Array<number>(10).fill(0);
      let flagged = 0;
      for (let k = first; k <= last; k++) {
        if (anomalous(k * STEP_MS)) flagged++;
        // The data drifts on day 4: a version trained before it sees its scores pile up in the
        // top decile from then on.
        const drifted = day(k * STEP_MS) > 4 && world.trainedOnDay[world.champion]! < 4;
        bins[drifted ? 9 : world.spread++ % 10]!++;
      }
      return {
        ...base,
        points: last - first + 1,
        lastTimestampMs: last * STEP_MS,
        flagged,
        maxScore: flagged > 0 ? 0.9995 : 0.5,
        topFeatures: flagged > 0 ? [{ name: 'value', contribution: 7 }] : [],
        scoreBins: bins,
      };
    },
    async checkFeatureDrift({ afterMs, untilMs }: FeatureDriftInput): Promise<FeatureDriftResult> {
      world.featureDriftChecks.push([afterMs, untilMs]);
      return {
        points: Math.round((untilMs - afterMs) / STEP_MS),
        top: [{ feature: 'zscore_60', psi: 0.01 }],
      };
    },
    async notifyAlert(input: NotifyAlertInput) {
      world.alerts.push(input);
    },
  };

  const metrics = (f1: number): EvaluationMetrics => ({ f1, precision: f1, recall: f1 });
  world.trainingActivities = {
    async validateSpec(input: unknown) {
      return parseDetectorSpec(input);
    },
    async collectSeries() {
      return { datasetId: 'series-data', range: { startMs: 0, endMs: 1, points: 2000 } };
    },
    async splitDataset() {
      const range = { startMs: 0, endMs: 1, points: 400 };
      return {
        trainId: 'series-t',
        validationId: 'series-v',
        testId: 'series-x',
        trainRange: range,
        testRange: range,
      };
    },
    async getChampion() {
      return world.champion;
    },
    async trainModel() {
      return { modelId: 'model-new', durationMs: 1 };
    },
    async trainMember({ kind }: { kind: string }) {
      return { kind, artifactId: `member-${kind}`, durationMs: 1 };
    },
    async fitEnsemble() {
      return { modelId: 'model-new', weights: { 'isolation-forest': 1 } };
    },
    async evaluateModel({ model }: { model: { artifactId?: string } }) {
      return metrics(model.artifactId ? 0.8 : 0.6);
    },
    async registerModel() {
      world.versions++;
      world.trainedOnDay[world.versions] = day(world.nowMs);
      return { detector: 'week', version: world.versions, checksum: 'x' };
    },
    async setChampion({ version }: { version: number }) {
      world.champion = version;
      world.schedule.finished(version);
    },
    async setChallenger() {},
    async recordDecision({ version }: { version: number }) {
      world.schedule.finished(version);
    },
  };
  return world;
}
