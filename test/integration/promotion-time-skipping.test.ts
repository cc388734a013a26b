import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordDecisionInput, SetAliasInput, SetChampionInput } from '../../activities/training.js';
import { parseDetectorSpec } from '../../ml/spec.js';
import { WORKFLOWS_PATH } from '../../workers/training-worker.js';
import { trainDetector } from '../../workflows/train-detector.js';
import { startTimeSkippingServer } from '../support/temporal.js';

/** trainDetector's promotion gates over hours and days of workflow time, on the time-skipping server. */
describe('promotion gates of trainDetector', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await startTimeSkippingServer();
  });

  afterAll(async () => {
    await env?.teardown();
  });

  async function run(promotion: Record<string, unknown>, shadow: Record<string, number> | undefined) {
    const calls = {
      challenger: [] as SetAliasInput[],
      champion: [] as SetChampionInput[],
      decisions: [] as RecordDecisionInput[],
      shadowSince: [] as number[],
    };
    const range = { startMs: 0, endMs: 1, points: 500 };
    const activities = {
      validateSpec: async (input: unknown) => parseDetectorSpec(input),
      collectSeries: async () => ({ datasetId: 'series-a', range }),
      splitDataset: async () => ({
        trainId: 'series-t',
        validationId: 'series-v',
        testId: 'series-x',
        trainRange: range,
        testRange: range,
      }),
      getChampion: async () => 1,
      trainMember: async ({ kind }: { kind: string }) => ({
        kind,
        artifactId: `member-${kind}`,
        durationMs: 1,
      }),
      fitEnsemble: async () => ({ modelId: 'model-new', weights: {} }),
      evaluateModel: async ({ model }: { model: { artifactId?: string } }) => ({
        f1: model.artifactId ? 0.9 : 0.7,
      }),
      registerModel: async () => ({ detector: 'gate', version: 2, checksum: 'x' }),
      setChallenger: async (input: SetAliasInput) => void calls.challenger.push(input),
      setChampion: async (input: SetChampionInput) => void calls.champion.push(input),
      recordDecision: async (input: RecordDecisionInput) => void calls.decisions.push(input),
      shadowSummary: async ({ sinceMs }: { sinceMs: number }) => {
        calls.shadowSince.push(sinceMs);
        return shadow;
      },
    };
    const taskQueue = `gate-${Math.random().toString(36).slice(2)}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: WORKFLOWS_PATH,
      activities,
    });
    const result = await worker.runUntil(
      env.client.workflow.execute(trainDetector, {
        taskQueue,
        workflowId: taskQueue,
        args: [{ name: 'gate', source: { kind: 'simulated' }, promotion } as never],
      }),
    );
    return { result, calls };
  }

  it('keeps the champion when the challenger flags far more in shadow, and ends the shadow', async () => {
    const { result, calls } = await run(
      { shadowMinutes: 24 * 60 },
      {
        shadowSteps: 1440,
        shadowPoints: 1440,
        shadowChampionFlagRate: 0.001,
        shadowChallengerFlagRate: 0.05,
        shadowChampionMeanScore: 0.5,
        shadowChallengerMeanScore: 0.6,
      },
    );

    expect(result).toMatchObject({ version: 2, promoted: false, championVersion: 1 });
    expect(result.reason).toMatch(
      /^in shadow over 1440 points the challenger flagged 5.00% against the champion's 0.10%/,
    );
    expect(calls.challenger.map((c) => c.version)).toEqual([2, 1]);
    expect(calls.champion).toEqual([]);
    expect(calls.decisions).toHaveLength(1);
    expect(calls.decisions[0]!.metrics).toMatchObject({ f1: 0.9, champion_f1: 0.7, shadowPoints: 1440 });
  });

  it('promotes after a clean day in shadow', async () => {
    const { result, calls } = await run(
      { shadowMinutes: 24 * 60 },
      {
        shadowSteps: 1440,
        shadowPoints: 1440,
        shadowChampionFlagRate: 0.002,
        shadowChallengerFlagRate: 0.003,
        shadowChampionMeanScore: 0.5,
        shadowChallengerMeanScore: 0.5,
      },
    );

    expect(result).toMatchObject({ version: 2, promoted: true, championVersion: 2 });
    expect(calls.champion).toHaveLength(1);
    expect(calls.champion[0]!.metrics).toMatchObject({ shadowChallengerFlagRate: 0.003 });
  });

  it('rejects the challenger when nobody approves it within the approval timeout', async () => {
    const { result, calls } = await run({ requireApproval: true, approvalTimeoutHours: 48 }, undefined);

    expect(result).toMatchObject({ promoted: false, championVersion: 1, reason: 'no approval within 48 h' });
    expect(calls.champion).toEqual([]);
    expect(calls.decisions.map((d) => d.action)).toEqual(['reject']);
  });
});
