import {
  type Client,
  ScheduleAlreadyRunning,
  type ScheduleHandle,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
} from '@temporalio/client';
import type { DetectorSpec } from '../ml/spec.js';

export interface RetrainScheduleOptions {
  readonly spec: DetectorSpec;
  /** Task queue of the training worker. @default 'training' */
  readonly taskQueue?: string;
  /** @default the spec's `retrain.everyHours` (24 unless set) */
  readonly everyHours?: number;
}

/** The schedule of a detector's retraining: one per detector. */
export function retrainScheduleId(detector: string): string {
  return `retrain-schedule-${detector}`;
}

/**
 * What the detector's retraining schedule starts: `trainDetector` with the spec, on the training
 * task queue. Each run's workflow id is this prefix with the start time appended by the schedule.
 */
export function retrainScheduleAction(spec: DetectorSpec, taskQueue = 'training') {
  return {
    type: 'startWorkflow' as const,
    workflowType: 'trainDetector',
    workflowId: `scheduled-train-${spec.name}`,
    taskQueue,
    args: [spec],
  };
}

/**
 * Creates the detector's retraining schedule, or brings an existing one in line with the spec.
 * A run that would start while the previous one still trains is skipped (overlap SKIP), so a
 * slow training never piles up behind itself; a scoring loop that sees drift asks the same
 * schedule for an early run ({@link requestRetrain}), so drift and the interval never overlap.
 */
export async function ensureRetrainSchedule(
  client: Client,
  options: RetrainScheduleOptions,
): Promise<ScheduleHandle> {
  const { spec } = options;
  const everyHours = options.everyHours ?? spec.retrain?.everyHours ?? 24;
  if (!(everyHours > 0)) throw new RangeError(`'everyHours' (${everyHours}) must be positive`);
  const scheduleId = retrainScheduleId(spec.name);
  const every = `${Math.round(everyHours * 3_600_000)}ms`;
  const action = retrainScheduleAction(spec, options.taskQueue);
  try {
    return await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every }] },
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
      memo: { detector: spec.name },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    const handle = client.schedule.getHandle(scheduleId);
    await handle.update((previous) => ({
      ...previous,
      spec: { intervals: [{ every }] },
      action,
      policies: { ...previous.policies, overlap: ScheduleOverlapPolicy.SKIP },
    }));
    return handle;
  }
}

/** Whether an early retrain was started, or skipped because one of the schedule's runs is training. */
export type RetrainRequestOutcome = 'started' | 'already-running';

/**
 * Starts the detector's retraining now through its schedule, so it counts as one of the
 * schedule's runs and never overlaps another; creates the schedule first where it is missing.
 */
export async function requestRetrain(
  client: Client,
  options: RetrainScheduleOptions,
): Promise<RetrainRequestOutcome> {
  let handle = client.schedule.getHandle(retrainScheduleId(options.spec.name));
  let description: Awaited<ReturnType<ScheduleHandle['describe']>>;
  try {
    description = await handle.describe();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    handle = await ensureRetrainSchedule(client, options);
    description = await handle.describe();
  }
  if (description.info.runningActions.length > 0) return 'already-running';
  // SKIP again at the server: a run the interval starts between describe and trigger still wins.
  await handle.trigger(ScheduleOverlapPolicy.SKIP);
  return 'started';
}
