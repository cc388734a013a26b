import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { TrainingActivities } from '../activities/training.js';

const { rollbackChampion } = proxyActivities<TrainingActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes: ['BadInput'] },
});

export interface RollbackDetectorInput {
  readonly detector: string;
  /** The registered version to serve again. */
  readonly version: number;
  readonly reason: string;
  /** Who asked, recorded with the decision. */
  readonly by?: string;
}

export interface RollbackDetectorResult {
  readonly detector: string;
  readonly version: number;
  readonly previousVersion?: number;
}

/**
 * Makes an earlier version the champion again. A workflow rather than a direct registry write so
 * the request is durable and shows in the same history as the trainings that made the versions;
 * scoring loops follow the alias at their next step.
 */
export async function rollbackDetector(input: RollbackDetectorInput): Promise<RollbackDetectorResult> {
  if (!Number.isInteger(input.version) || input.version < 1) {
    throw ApplicationFailure.nonRetryable(
      `'version' (${input.version}) must be a positive integer`,
      'BadInput',
    );
  }
  if (typeof input.reason !== 'string' || input.reason.trim() === '') {
    throw ApplicationFailure.nonRetryable(
      `'reason' (${JSON.stringify(input.reason)}) must say why`,
      'BadInput',
    );
  }
  const reason = input.by ? `${input.reason} (by ${input.by})` : input.reason;
  const { previousVersion } = await rollbackChampion({
    detector: input.detector,
    version: input.version,
    reason,
  });
  return {
    detector: input.detector,
    version: input.version,
    ...(previousVersion !== undefined ? { previousVersion } : {}),
  };
}
