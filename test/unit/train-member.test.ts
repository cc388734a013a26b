import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSourceReaders } from '../../activities/sources.js';
import {
  createTrainingActivities,
  type MemberProgress,
  type TrainMemberResult,
} from '../../activities/training.js';
import type { SerializedMember } from '../../ml/detector-model.js';
import { parseDetectorSpec } from '../../ml/spec.js';
import { type ArtifactStore, createFileArtifactStore } from '../../registry/artifact-store.js';
import { createFileModelRegistry } from '../../registry/model-registry.js';
import { simulateSource } from '../../sim/source.js';

describe('training an Isolation Forest member', () => {
  let dataDir: string;
  let store: ArtifactStore;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'member-'));
    store = createFileArtifactStore(dataDir);
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('resumes from the checkpoint of the last heartbeat and grows the same forest', async () => {
    const spec = parseDetectorSpec({
      name: 'member',
      source: { kind: 'simulated', days: 2, stepSeconds: 300 },
      model: { trees: 120, seed: 7 },
    });
    const series = simulateSource(spec.source as never, Date.UTC(2026, 0, 10));
    const half = Math.floor(series.values.length * 0.7);
    const trainId = await store.putSeries({
      name: series.name,
      timestampsMs: series.timestampsMs.subarray(0, half),
      values: series.values.subarray(0, half),
    });
    const validationId = await store.putSeries({
      name: series.name,
      timestampsMs: series.timestampsMs.subarray(half),
      values: series.values.subarray(half),
    });
    const activities = createTrainingActivities({
      store,
      registry: createFileModelRegistry(dataDir),
      sources: createSourceReaders(),
      codeVersion: 'test',
    });
    const input = { spec, kind: 'isolation-forest' as const, trainId, validationId };

    const fresh = new MockActivityEnvironment();
    const heartbeats: MemberProgress[] = [];
    fresh.on('heartbeat', (details: MemberProgress) => heartbeats.push(details));
    const whole: TrainMemberResult = await fresh.run(activities.trainMember, input);

    expect(heartbeats.filter((h) => h.stage === 'trees').map((h) => h.treesDone)).toEqual([50, 100, 120]);
    expect(whole.resumedFrom).toBeUndefined();

    const resumed: TrainMemberResult = await new MockActivityEnvironment({
      heartbeatDetails: heartbeats[0],
    }).run(activities.trainMember, input);
    expect(resumed.resumedFrom).toBe(50);
    const [a, b] = await Promise.all([
      store.getJson<SerializedMember>(whole.artifactId),
      store.getJson<SerializedMember>(resumed.artifactId),
    ]);
    expect(b).toEqual(a);
  });

  it('fails without retries when the training split is too short to build features', async () => {
    const spec = parseDetectorSpec({ name: 'short', source: { kind: 'simulated' } });
    const trainId = await store.putSeries({
      name: 'short',
      timestampsMs: Float64Array.from({ length: 10 }, (_, i) => i * 60_000),
      values: new Float64Array(10),
    });
    const activities = createTrainingActivities({
      store,
      registry: createFileModelRegistry(dataDir),
      sources: createSourceReaders(),
      codeVersion: 'test',
    });

    await expect(
      new MockActivityEnvironment().run(activities.trainMember, {
        spec,
        kind: 'isolation-forest' as const,
        trainId,
        validationId: trainId,
      }),
    ).rejects.toMatchObject({
      nonRetryable: true,
      message: expect.stringMatching(/^member 'isolation-forest' of 'short': /),
    });
  });
});
