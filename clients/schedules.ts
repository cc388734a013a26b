import {
  type Client,
  ScheduleAlreadyRunning,
  type ScheduleHandle,
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
 * Creates the detector's retraining schedule, or brings an existing one in line with the spec.
 * A run that would start while the previous one still trains is skipped (overlap SKIP), so a
 * slow training never piles up behind itself; a scoring loop that sees drift triggers it early.
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
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'trainDetector',
    // The schedule appends the start time, so each run has its own id under this prefix.
    workflowId: `scheduled-train-${spec.name}`,
    taskQueue: options.taskQueue ?? 'training',
    args: [spec],
  };
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

/** Starts the detector's retraining now, unless one is already running. */
export async function triggerRetrain(client: Client, detector: string): Promise<void> {
  await client.schedule.getHandle(retrainScheduleId(detector)).trigger(ScheduleOverlapPolicy.SKIP);
}
