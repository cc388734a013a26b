import { log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { EvaluationMetrics, TrainingActivities } from '../activities/training.js';
import type { DetectorSpec } from '../ml/spec.js';

/** Quick bookkeeping against local files: short deadlines, a few fast retries. */
const { validateSpec, getChampion, registerModel, setChampion, recordDecision } =
  proxyActivities<TrainingActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumAttempts: 5 },
  });

/** Reading the source may wait on Prometheus; backing off gives an outage time to pass. */
const { collectSeries, splitDataset } = proxyActivities<TrainingActivities>({
  startToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 10,
  },
});

/** Training and evaluation are CPU-bound; the heartbeat timeout catches a worker that died mid-fit. */
const { trainModel, evaluateModel } = proxyActivities<TrainingActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5 seconds', maximumAttempts: 3 },
});

export interface TrainDetectorResult {
  readonly detector: string;
  readonly version: number;
  readonly promoted: boolean;
  readonly championVersion: number;
  readonly reason: string;
  readonly metrics: EvaluationMetrics;
  readonly championMetrics?: EvaluationMetrics;
}

/**
 * Trains a detector from its spec: collect, split, train, evaluate, register, and promote the new
 * version when there is no champion or when it beats the champion on the same held-back data.
 * Data moves between activities by id only, so the history stays small whatever the series length.
 */
export async function trainDetector(specInput: DetectorSpec): Promise<TrainDetectorResult> {
  const spec = await validateSpec(specInput);
  const { workflowId, runId, startTime } = workflowInfo();

  const collected = await collectSeries({ spec, endMs: startTime.getTime() });
  const splits = await splitDataset({
    datasetId: collected.datasetId,
    validationFraction: spec.split.validationFraction,
    testFraction: spec.split.testFraction,
  });
  const championVersion = await getChampion({ detector: spec.name });

  const trained = await trainModel({ spec, trainId: splits.trainId, validationId: splits.validationId });
  const evaluation = {
    contextId: splits.validationId,
    testId: splits.testId,
    seed: spec.model.seed,
    ...(collected.labelsId ? { labelsId: collected.labelsId } : {}),
  };
  const [metrics, championMetrics] = await Promise.all([
    evaluateModel({ model: { artifactId: trained.modelId }, ...evaluation }),
    championVersion === undefined
      ? Promise.resolve(undefined)
      : evaluateModel({ model: { detector: spec.name, version: championVersion }, ...evaluation }),
  ]);

  const registered = await registerModel({
    spec,
    modelId: trained.modelId,
    metrics,
    range: collected.range,
    runKey: `${workflowId}/${runId}`,
    ...(championVersion !== undefined ? { parentVersion: championVersion } : {}),
  });

  const decision = decidePromotion(metrics, championMetrics, spec.promotion.minImprovement);
  if (decision.promote) {
    await setChampion({ detector: spec.name, version: registered.version, reason: decision.reason, metrics });
  } else {
    await recordDecision({
      detector: spec.name,
      version: registered.version,
      action: 'reject',
      reason: decision.reason,
      metrics,
      ...(championVersion !== undefined ? { championVersion } : {}),
    });
  }
  log.info('training finished', {
    detector: spec.name,
    version: registered.version,
    promoted: decision.promote,
    f1: metrics.f1,
  });

  return {
    detector: spec.name,
    version: registered.version,
    promoted: decision.promote,
    championVersion: decision.promote ? registered.version : (championVersion ?? registered.version),
    reason: decision.reason,
    metrics,
    ...(championMetrics ? { championMetrics } : {}),
  };
}

/** Pure and exported so the rule can be tested without a server. */
export function decidePromotion(
  challenger: EvaluationMetrics,
  champion: EvaluationMetrics | undefined,
  minImprovement: number,
): { promote: boolean; reason: string } {
  const f1 = challenger.f1 ?? 0;
  if (!champion) return { promote: true, reason: `no champion yet; challenger F1 ${f1.toFixed(3)}` };
  const championF1 = champion.f1 ?? 0;
  const gain = f1 - championF1;
  if (gain > minImprovement || (minImprovement > 0 && gain >= minImprovement)) {
    return {
      promote: true,
      reason: `challenger F1 ${f1.toFixed(3)} beats champion ${championF1.toFixed(3)} by ${gain.toFixed(3)} (margin ${minImprovement})`,
    };
  }
  return {
    promote: false,
    reason: `challenger F1 ${f1.toFixed(3)} does not beat champion ${championF1.toFixed(3)} by more than the margin ${minImprovement}`,
  };
}
