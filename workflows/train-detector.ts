import {
  condition,
  defineQuery,
  defineUpdate,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  EvaluationMetrics,
  RegisterModelInput,
  TrainingActivities,
  TrainMemberResult,
} from '../activities/training.js';
import type { DetectorSpec } from '../ml/spec.js';

/** Quick bookkeeping against local files: short deadlines, a few fast retries. */
const {
  validateSpec,
  getChampion,
  registerModel,
  setChampion,
  recordDecision,
  setChallenger,
  shadowSummary,
} = proxyActivities<TrainingActivities>({
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

/**
 * One member per activity, in parallel. Heartbeats every few seconds carry the progress and the
 * last checkpoint: a worker that dies mid-fit is noticed within the heartbeat timeout and the
 * next attempt resumes from that checkpoint. Bad data fails at once (BadInput is non-retryable).
 */
const { trainMember } = proxyActivities<TrainingActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumAttempts: 5,
    nonRetryableErrorTypes: ['BadInput'],
  },
});

/** Scores the validation split with every member: minutes at most, with a heartbeat at the start. */
const { fitEnsemble } = proxyActivities<TrainingActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '5 minutes',
  retry: { initialInterval: '5 seconds', maximumAttempts: 3, nonRetryableErrorTypes: ['BadInput'] },
});

export interface PromotionAnswer {
  /** Who answers, e.g. an e-mail address or a username. */
  readonly by: string;
  readonly reason: string;
}

export const approvePromotionUpdate = defineUpdate<string, [PromotionAnswer]>('approvePromotion');
export const rejectPromotionUpdate = defineUpdate<string, [PromotionAnswer]>('rejectPromotion');

export interface PromotionState {
  readonly stage: 'training' | 'shadow' | 'awaiting-approval' | 'decided';
  readonly version?: number;
  readonly championVersion?: number;
  readonly shadowUntilMs?: number;
  readonly answer?: PromotionAnswer & { readonly approved: boolean };
}

export const promotionQuery = defineQuery<PromotionState>('promotion');

export interface TrainDetectorResult {
  readonly detector: string;
  readonly version: number;
  readonly promoted: boolean;
  readonly championVersion: number;
  readonly reason: string;
  readonly metrics: EvaluationMetrics;
  readonly championMetrics?: EvaluationMetrics;
  /** What the training data means for the model's quality: a split too short to cover a day, say. */
  readonly warnings?: readonly string[];
}

/**
 * Trains a detector from its spec: collect, split, train, evaluate, register, and promote the new
 * version when there is no champion or when it beats the champion on the same held-back data.
 * Data moves between activities by id only, so the history stays small whatever the series length.
 */
export async function trainDetector(specInput: DetectorSpec): Promise<TrainDetectorResult> {
  let promotion: PromotionState = { stage: 'training' };
  const validateAnswer = (answer: PromotionAnswer) => {
    if (promotion.stage !== 'awaiting-approval') {
      throw new Error(`no promotion is awaiting approval (stage is '${promotion.stage}')`);
    }
    if (typeof answer?.by !== 'string' || answer.by.trim() === '') {
      throw new Error(`'by' (${JSON.stringify(answer?.by)}) must name who answers`);
    }
    if (typeof answer.reason !== 'string' || answer.reason.trim() === '') {
      throw new Error(`'reason' (${JSON.stringify(answer.reason)}) must say why`);
    }
  };
  const answerWith = (approved: boolean) => (answer: PromotionAnswer) => {
    promotion = { ...promotion, answer: { by: answer.by, reason: answer.reason, approved } };
    return `version ${promotion.version} ${approved ? 'approved' : 'rejected'} by ${answer.by}`;
  };
  setHandler(approvePromotionUpdate, answerWith(true), { validator: validateAnswer });
  setHandler(rejectPromotionUpdate, answerWith(false), { validator: validateAnswer });
  setHandler(promotionQuery, () => promotion);

  if (!patched('ensemble-pipeline')) return trainSingleForest(specInput);
  const { spec, collected, splits, championVersion } = await prepareData(specInput);
  const { workflowId, runId } = workflowInfo();

  const members: TrainMemberResult[] = await Promise.all(
    spec.models.map((m) =>
      trainMember({ spec, kind: m.kind, trainId: splits.trainId, validationId: splits.validationId }),
    ),
  );
  const ensemble = await fitEnsemble({
    spec,
    members,
    trainId: splits.trainId,
    validationId: splits.validationId,
  });

  const { metrics, championMetrics, registered } = await evaluateAndRegister({
    spec,
    collected,
    splits,
    championVersion,
    modelId: ensemble.modelId,
    runKey: `${workflowId}/${runId}`,
  });
  promotion = {
    stage: 'training',
    version: registered.version,
    ...(championVersion !== undefined ? { championVersion } : {}),
  };

  let decision = decidePromotion(metrics, championMetrics, spec.promotion.minImprovement);
  let decisionMetrics: EvaluationMetrics = { ...metrics };
  for (const [k, v] of Object.entries(championMetrics ?? {})) decisionMetrics[`champion_${k}`] = v;

  const shadowMinutes = spec.promotion.shadowMinutes ?? 0;
  if (decision.promote && championVersion !== undefined && shadowMinutes > 0) {
    await setChallenger({
      detector: spec.name,
      version: registered.version,
      reason: 'scored in shadow beside the champion',
      metrics,
    });
    const sinceMs = Date.now();
    promotion = { ...promotion, stage: 'shadow', shadowUntilMs: sinceMs + shadowMinutes * 60_000 };
    await sleep(shadowMinutes * 60_000);
    const shadow = await shadowSummary({
      detector: spec.name,
      challengerVersion: registered.version,
      sinceMs,
    });
    if (shadow) {
      decisionMetrics = { ...decisionMetrics, ...shadow };
      decision = judgeShadow(shadow, spec.targetAnomalyRate) ?? decision;
    }
  }
  if (decision.promote && spec.promotion.requireApproval) {
    promotion = { ...promotion, stage: 'awaiting-approval' };
    const answered = await condition(
      () => promotion.answer !== undefined,
      spec.promotion.approvalTimeoutHours * 3_600_000,
    );
    const answer = promotion.answer;
    decision =
      !answered || !answer
        ? { promote: false, reason: `no approval within ${spec.promotion.approvalTimeoutHours} h` }
        : {
            promote: answer.approved,
            reason: `${answer.approved ? 'approved' : 'rejected'} by ${answer.by}: ${answer.reason}; ${decision.reason}`,
          };
  }

  if (decision.promote) {
    await setChampion({
      detector: spec.name,
      version: registered.version,
      reason: decision.reason,
      metrics: decisionMetrics,
    });
  } else {
    await recordDecision({
      detector: spec.name,
      version: registered.version,
      action: 'reject',
      reason: decision.reason,
      metrics: decisionMetrics,
      ...(championVersion !== undefined ? { championVersion } : {}),
    });
    if (championVersion !== undefined && shadowMinutes > 0) {
      // Ends the shadow: the challenger alias back on the champion is what the scoring loop skips.
      await setChallenger({
        detector: spec.name,
        version: championVersion,
        reason: `challenger ${registered.version} rejected`,
      });
    }
  }
  promotion = { ...promotion, stage: 'decided' };
  return finishTraining({
    spec,
    registered,
    decision,
    championVersion,
    metrics,
    championMetrics,
    members: members.length,
    warnings: splits.warnings,
  });
}

/**
 * A challenger that raised far more flags than the champion on the same live points is not
 * promoted: more than twice the champion's rate plus the false-alarm budget.
 */
export function judgeShadow(
  shadow: Record<string, number>,
  targetAnomalyRate: number,
): { promote: boolean; reason: string } | undefined {
  const points = shadow.shadowPoints ?? 0;
  if (points === 0) return undefined;
  const champion = shadow.shadowChampionFlagRate ?? 0;
  const challenger = shadow.shadowChallengerFlagRate ?? 0;
  const limit = 2 * champion + targetAnomalyRate;
  if (challenger > limit) {
    return {
      promote: false,
      reason: `in shadow over ${points} points the challenger flagged ${(challenger * 100).toFixed(2)}% against the champion's ${(champion * 100).toFixed(2)}% (limit ${(limit * 100).toFixed(2)}%)`,
    };
  }
  return undefined;
}

/** The pipeline as it was before ensembles: kept so that runs started then replay unchanged. */
async function trainSingleForest(specInput: DetectorSpec): Promise<TrainDetectorResult> {
  const { spec, collected, splits, championVersion } = await prepareData(specInput);
  const { workflowId, runId } = workflowInfo();

  const trained = await trainModel({ spec, trainId: splits.trainId, validationId: splits.validationId });
  const { metrics, championMetrics, registered } = await evaluateAndRegister({
    spec,
    collected,
    splits,
    championVersion,
    modelId: trained.modelId,
    runKey: `${workflowId}/${runId}`,
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
  return finishTraining({
    spec,
    registered,
    decision,
    championVersion,
    metrics,
    championMetrics,
    members: 1,
    warnings: splits.warnings,
  });
}

/** Logs the outcome and shapes the workflow's result, the same for both training paths. */
function finishTraining(input: {
  spec: DetectorSpec;
  registered: { version: number };
  decision: { promote: boolean; reason: string };
  championVersion: number | undefined;
  metrics: EvaluationMetrics;
  championMetrics: EvaluationMetrics | undefined;
  members: number;
  warnings: readonly string[] | undefined;
}): TrainDetectorResult {
  const { spec, registered, decision, championVersion, metrics, championMetrics } = input;
  log.info('training finished', {
    detector: spec.name,
    version: registered.version,
    promoted: decision.promote,
    members: input.members,
    f1: metrics.f1,
  });
  for (const warning of input.warnings ?? []) log.warn('training data', { detector: spec.name, warning });
  return {
    detector: spec.name,
    version: registered.version,
    promoted: decision.promote,
    championVersion: decision.promote ? registered.version : (championVersion ?? registered.version),
    reason: decision.reason,
    metrics,
    ...(championMetrics ? { championMetrics } : {}),
    ...(input.warnings?.length ? { warnings: input.warnings } : {}),
  };
}

/** Validate, collect, split and look up the champion: the first commands of both training paths. */
async function prepareData(specInput: DetectorSpec) {
  const spec = await validateSpec(specInput);
  const collected = await collectSeries({ spec, endMs: workflowInfo().startTime.getTime() });
  const splits = await splitDataset({
    datasetId: collected.datasetId,
    validationFraction: spec.split.validationFraction,
    testFraction: spec.split.testFraction,
  });
  const championVersion = await getChampion({ detector: spec.name });
  return { spec, collected, splits, championVersion };
}

/**
 * Evaluates the new model and the champion on the same held-back data, in parallel, then registers
 * the new version. Both training paths issue exactly these commands in this order.
 */
async function evaluateAndRegister(input: {
  spec: DetectorSpec;
  collected: { labelsId?: string; range: RegisterModelInput['range'] };
  splits: { validationId: string; testId: string };
  championVersion: number | undefined;
  modelId: string;
  runKey: string;
}) {
  const { spec, collected, splits, championVersion } = input;
  const evaluation = {
    contextId: splits.validationId,
    testId: splits.testId,
    seed: spec.model.seed,
    ...(collected.labelsId ? { labelsId: collected.labelsId } : {}),
  };
  const [metrics, championMetrics] = await Promise.all([
    evaluateModel({ model: { artifactId: input.modelId }, ...evaluation }),
    championVersion === undefined
      ? Promise.resolve(undefined)
      : evaluateModel({ model: { detector: spec.name, version: championVersion }, ...evaluation }),
  ]);
  const registered = await registerModel({
    spec,
    modelId: input.modelId,
    metrics,
    range: collected.range,
    runKey: input.runKey,
    ...(championVersion !== undefined ? { parentVersion: championVersion } : {}),
  });
  return { metrics, championMetrics, registered };
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
