import { log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ensureRetrainSchedule, requestRetrain } from '../clients/schedules.js';
import type { DetectorSpec } from '../ml/spec.js';

export interface ScheduleActivityDeps {
  /** A Temporal client, created on first use so a worker that never needs one opens no connection. */
  readonly client: () => Promise<Client>;
}

export interface EnsureRetrainScheduleInput {
  readonly spec: DetectorSpec;
  readonly trainingTaskQueue: string;
}

export function createScheduleActivities(deps: ScheduleActivityDeps) {
  return {
    /** Creates the detector's retraining Schedule, or aligns an existing one with the spec. */
    async ensureRetrainSchedule({ spec, trainingTaskQueue }: EnsureRetrainScheduleInput): Promise<string> {
      const handle = await ensureRetrainSchedule(await deps.client(), { spec, taskQueue: trainingTaskQueue });
      log.info('retraining schedule in place', {
        detector: spec.name,
        scheduleId: handle.scheduleId,
        everyHours: spec.retrain.everyHours,
      });
      return handle.scheduleId;
    },

    /**
     * Starts an early retrain through the detector's schedule unless one of its runs is still
     * training: drift-started and scheduled trainings never overlap.
     */
    async requestRetrain({
      spec,
      trainingTaskQueue,
    }: EnsureRetrainScheduleInput): Promise<{ started: boolean }> {
      const outcome = await requestRetrain(await deps.client(), { spec, taskQueue: trainingTaskQueue });
      log.info('early retrain requested', { detector: spec.name, outcome });
      return { started: outcome === 'started' };
    },
  };
}

export type ScheduleActivities = ReturnType<typeof createScheduleActivities>;
