import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import type { ScheduleActivities } from '../activities/schedules.js';
import type { ScoreStepResult, ScoringActivities } from '../activities/scoring.js';
import { populationStabilityIndex } from '../ml/drift.js';
import type { DetectorSpec } from '../ml/spec.js';
import { alertStep } from './alert-rule.js';
import { trainDetector } from './train-detector.js';

/**
 * One step's fetch and score. Short attempts: a step that cannot reach the source is retried by
 * the loop itself, which backs off, reports the outage in `status` and catches up afterwards.
 */
const { scoreStep, checkFeatureDrift } = proxyActivities<ScoringActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

/** The notifier keeps an outbox when Alertmanager is down, so failures here are local and brief. */
const { notifyAlert, validateScoringSpec } = proxyActivities<ScoringActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});

/** Bookkeeping against the Temporal server: a failure here never holds up scoring. */
const { ensureRetrainSchedule, requestRetrain } = proxyActivities<ScheduleActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', maximumAttempts: 5 },
});

export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Forget the cached models and follow the registry's aliases again at the next step. */
export const reloadSignal = defineSignal('reload');
export const statusQuery = defineQuery<ScoringStatus>('status');

/** A stretch of time the loop did not score as it happened. */
export interface ScoringGap {
  readonly fromMs: number;
  readonly toMs: number;
  readonly reason: string;
  /** True when the points were scored later; false when they were skipped for good. */
  readonly caughtUp: boolean;
}

/** What survives continue-as-new. Small by design: a few numbers and the last gaps. */
export interface ScoringState {
  readonly lastScoredMs?: number;
  readonly openAlert?: { readonly sinceMs: number; readonly maxScore: number };
  readonly flaggedStreak: number;
  readonly cleanStreak: number;
  readonly paused: boolean;
  readonly modelVersion?: number;
  readonly shadowVersion?: number;
  readonly gaps: ScoringGap[];
  /** Counts of scores per decile since the last drift check. */
  readonly driftBins: number[];
  /** Newest timestamp scored before the current drift comparison began. */
  readonly driftSinceMs?: number;
  /** PSI of the scores against their validation deciles at the last drift check. */
  readonly lastDriftPsi?: number;
  /** The feature that moved most against its training distribution at the last drift check. */
  readonly lastFeatureDrift?: { readonly feature: string; readonly psi: number };
  readonly retrainsStarted: number;
  readonly alertsFired: number;
  readonly totalSteps: number;
  readonly totalPoints: number;
  /** Runs before this one in the continue-as-new chain. */
  readonly runs: number;
}

export interface ScoringStatus extends ScoringState {
  readonly detector: string;
  readonly lastStepAtMs?: number;
  /** Workflow time of the last step minus the newest scored timestamp. */
  readonly lagMs?: number;
  readonly anomaliesOpen: number;
  readonly stepsThisRun: number;
  readonly consecutiveFailures: number;
  readonly lastError?: string;
  /** Set while the source cannot be read: when the outage began. */
  readonly outageSinceMs?: number;
}

export interface ScoreContinuouslyInput {
  readonly spec: DetectorSpec;
  /** Task queue of the retraining started on drift. @default 'training' */
  readonly trainingTaskQueue?: string;
  /** State from the previous run of the chain; absent on the first. */
  readonly carried?: ScoringState;
}

/** The id of a drift-started retraining in runs from before drift went through the schedule. */
export function retrainWorkflowId(detector: string): string {
  return `retrain-${detector}`;
}

const DRIFT_BINS = 10;
const MAX_GAPS = 20;
const MAX_BACKOFF_MS = 10 * 60_000;

/**
 * Scores a detector's newest data every step for as long as it runs: durable timers between
 * steps, continue-as-new before the history grows large, catch-up from the last scored
 * timestamp after a restart or an outage, and one alert per anomaly episode.
 */
export async function scoreContinuously(input: ScoreContinuouslyInput): Promise<never> {
  const trainingTaskQueue = input.trainingTaskQueue ?? 'training';
  let state: ScoringState = input.carried ?? {
    flaggedStreak: 0,
    cleanStreak: 0,
    paused: false,
    gaps: [],
    driftBins: new Array<number>(DRIFT_BINS).fill(0),
    retrainsStarted: 0,
    alertsFired: 0,
    totalSteps: 0,
    totalPoints: 0,
    runs: 0,
  };
  let reloadRequested = false;
  let stepsThisRun = 0;
  let failures = 0;
  let lastError: string | undefined;
  let outageSinceMs: number | undefined;
  let lastStepAtMs: number | undefined;

  setHandler(pauseSignal, () => {
    state = { ...state, paused: true };
  });
  setHandler(resumeSignal, () => {
    state = { ...state, paused: false };
  });
  setHandler(reloadSignal, () => {
    reloadRequested = true;
  });
  setHandler(statusQuery, () => ({
    ...state,
    detector: input.spec.name,
    ...(lastStepAtMs !== undefined ? { lastStepAtMs } : {}),
    ...(lastStepAtMs !== undefined && state.lastScoredMs !== undefined
      ? { lagMs: lastStepAtMs - state.lastScoredMs }
      : {}),
    anomaliesOpen: state.openAlert ? 1 : 0,
    stepsThisRun,
    consecutiveFailures: failures,
    ...(lastError !== undefined ? { lastError } : {}),
    ...(outageSinceMs !== undefined ? { outageSinceMs } : {}),
  }));

  // Handlers are set before the first await, so a signal or query sent at start is never refused.
  const spec = input.carried ? input.spec : await validateScoringSpec(input.spec);
  if (!input.carried && patched('retrain-schedule')) {
    // The detector's daily retraining starts with its scoring; not awaited, so a server that
    // refuses schedules delays no step. Later runs of the chain find it in place.
    ensureRetrainSchedule({ spec, trainingTaskQueue: input.trainingTaskQueue ?? 'training' }).catch((err) =>
      log.warn('retraining schedule not created', { detector: spec.name, error: String(err) }),
    );
  }
  const scoring = spec.scoring;
  const stepMs = (scoring.stepSeconds ?? sourceStepSeconds(spec)) * 1000;

  const addGap = (gap: ScoringGap) => {
    state = { ...state, gaps: [...state.gaps, gap].slice(-MAX_GAPS) };
  };

  while (stepsThisRun < scoring.continueAsNewAfterSteps && !workflowInfo().continueAsNewSuggested) {
    if (state.paused) {
      log.info('scoring paused', { detector: spec.name });
      await condition(() => !state.paused);
      log.info('scoring resumed', { detector: spec.name, lastScoredMs: state.lastScoredMs });
    }

    const nowMs = Date.now();
    const oldestMs = nowMs - scoring.maxCatchUpSteps * stepMs;
    const lastScoredMs = state.lastScoredMs ?? nowMs - stepMs;
    // Points older than the catch-up limit are skipped for good; the gap is recorded once the step
    // succeeds, since a failed attempt is retried later with a later limit.
    const afterMs = Math.max(lastScoredMs, oldestMs);

    let result: ScoreStepResult;
    try {
      result = await scoreStep({ spec, afterMs, untilMs: nowMs, reload: reloadRequested });
    } catch (err) {
      if (isCancellation(err) || !(err instanceof ActivityFailure)) throw err;
      failures++;
      lastError = err.cause?.message ?? err.message;
      outageSinceMs ??= afterMs;
      const backoffMs = Math.min(stepMs * 2 ** Math.min(failures, 10), MAX_BACKOFF_MS);
      log.warn('scoring step failed; backing off', { detector: spec.name, failures, backoffMs, lastError });
      await condition(() => state.paused, backoffMs);
      continue;
    }
    if (afterMs > lastScoredMs) {
      addGap({ fromMs: lastScoredMs, toMs: afterMs, reason: 'older than maxCatchUpSteps', caughtUp: false });
    }
    if (outageSinceMs !== undefined) {
      addGap({
        // Only the part of the outage within the catch-up limit was scored later.
        fromMs: Math.max(outageSinceMs, afterMs),
        toMs: nowMs,
        reason: `source unreachable: ${lastError}`,
        caughtUp: true,
      });
      outageSinceMs = undefined;
    }
    failures = 0;
    lastError = undefined;
    reloadRequested = false;
    lastStepAtMs = nowMs;
    stepsThisRun++;

    state = await applyStep(spec, state, result, trainingTaskQueue);

    await condition(() => state.paused || reloadRequested, Math.max(nowMs + stepMs - Date.now(), 1));
  }

  // Signals may still be running their handlers; they must finish before the run closes.
  await condition(allHandlersFinished);
  log.info('scoring continues as new', { detector: spec.name, steps: stepsThisRun, runs: state.runs + 1 });
  return continueAsNew<typeof scoreContinuously>({
    spec,
    trainingTaskQueue,
    carried: { ...state, runs: state.runs + 1 },
  });
}

async function applyStep(
  spec: DetectorSpec,
  previous: ScoringState,
  result: ScoreStepResult,
  trainingTaskQueue: string,
): Promise<ScoringState> {
  let state: ScoringState = { ...previous, totalSteps: previous.totalSteps + 1 };
  if (result.version === undefined || result.points === 0) return state;

  if (state.modelVersion !== result.version) {
    log.info('scoring with a new model version', {
      detector: spec.name,
      version: result.version,
      previous: state.modelVersion,
    });
    // The drift reference belongs to the model: a new one starts a new comparison.
    state = {
      ...state,
      driftBins: new Array<number>(DRIFT_BINS).fill(0),
      driftSinceMs: previous.lastScoredMs,
    };
  }
  if (state.driftSinceMs === undefined && previous.lastScoredMs !== undefined) {
    state = { ...state, driftSinceMs: previous.lastScoredMs };
  }
  state = {
    ...state,
    modelVersion: result.version,
    ...(result.shadowVersion !== undefined
      ? { shadowVersion: result.shadowVersion }
      : { shadowVersion: undefined }),
    lastScoredMs: result.lastTimestampMs ?? state.lastScoredMs,
    totalPoints: state.totalPoints + result.points,
  };
  const step = alertStep(state, state.openAlert !== undefined, result.flagged > 0, spec.scoring);
  state = { ...state, flaggedStreak: step.flaggedStreak, cleanStreak: step.cleanStreak };

  if (step.transition === 'fire') {
    await notifyAlert({
      spec,
      action: 'fire',
      score: result.maxScore,
      threshold: result.threshold,
      features: result.topFeatures,
    });
    state = {
      ...state,
      openAlert: { sinceMs: result.lastTimestampMs ?? Date.now(), maxScore: result.maxScore },
      alertsFired: state.alertsFired + 1,
    };
  } else if (step.transition === 'resolve') {
    await notifyAlert({ spec, action: 'resolve' });
    state = { ...state, openAlert: undefined };
  } else if (state.openAlert && result.maxScore > state.openAlert.maxScore) {
    state = { ...state, openAlert: { ...state.openAlert, maxScore: result.maxScore } };
  }

  const driftBins = state.driftBins.map((count, i) => count + (result.scoreBins[i] ?? 0));
  const total = driftBins.reduce((a, b) => a + b, 0);
  if (total < spec.scoring.driftMinPoints) return { ...state, driftBins };

  const uniform = new Array<number>(DRIFT_BINS).fill(1 / DRIFT_BINS);
  const psi = populationStabilityIndex(
    uniform,
    driftBins.map((count) => count / total),
  );
  const sinceMs = state.driftSinceMs;
  state = {
    ...state,
    driftBins: new Array<number>(DRIFT_BINS).fill(0),
    driftSinceMs: state.lastScoredMs,
    lastDriftPsi: psi,
  };
  let moved: { feature: string; psi: number } | undefined;
  if (patched('feature-drift') && sinceMs !== undefined && state.lastScoredMs !== undefined) {
    moved = await featureDriftSince(spec, result.version, sinceMs, state.lastScoredMs);
    if (moved) state = { ...state, lastFeatureDrift: moved };
  }
  const featureDrifted = moved !== undefined && moved.psi > spec.scoring.driftPsi;
  if ((psi > spec.scoring.driftPsi || featureDrifted) && spec.retrain.onDrift) {
    log.info('drift detected; starting a retrain', {
      detector: spec.name,
      psi,
      ...(moved ? { feature: moved.feature, featurePsi: moved.psi } : {}),
      points: total,
    });
    const started = patched('retrain-through-schedule')
      ? await requestScheduledRetrain(spec, trainingTaskQueue)
      : await startRetrain(spec, trainingTaskQueue);
    if (started) state = { ...state, retrainsStarted: state.retrainsStarted + 1 };
  }
  return state;
}

/**
 * The feature that moved most since `sinceMs` against the model's training distribution, or
 * undefined when the model keeps none or the check fails: a failed check costs this round only.
 */
async function featureDriftSince(
  spec: DetectorSpec,
  version: number,
  sinceMs: number,
  untilMs: number,
): Promise<{ feature: string; psi: number } | undefined> {
  try {
    const { top } = await checkFeatureDrift({ spec, version, afterMs: sinceMs, untilMs });
    return top[0];
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('feature drift not checked', { detector: spec.name, error: String(err) });
    return undefined;
  }
}

/**
 * Asks the detector's retraining schedule for an early run, which the schedule skips while one of
 * its runs still trains. A Temporal server that cannot be reached now costs this drift check only:
 * the next one asks again.
 */
async function requestScheduledRetrain(spec: DetectorSpec, trainingTaskQueue: string): Promise<boolean> {
  try {
    const { started } = await requestRetrain({ spec, trainingTaskQueue });
    if (!started) log.info('retrain already running', { detector: spec.name });
    return started;
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('early retrain not requested', { detector: spec.name, error: String(err) });
    return false;
  }
}

/**
 * Starts the detector's retraining as a child unless one is already running under the same fixed
 * id: how runs started before retraining went through the schedule still replay.
 */
async function startRetrain(spec: DetectorSpec, taskQueue: string): Promise<boolean> {
  try {
    await startChild(trainDetector, {
      workflowId: retrainWorkflowId(spec.name),
      taskQueue,
      args: [spec],
      // The retrain outlives this run: continue-as-new must not cancel it.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      log.info('retrain already running', { detector: spec.name });
      return false;
    }
    throw err;
  }
}

function sourceStepSeconds(spec: DetectorSpec): number {
  // Live points come from `scoring.source` when the spec names one (absent in older inputs, so
  // their step is unchanged and their histories replay).
  const source = spec.scoring.source ?? spec.source;
  // Limitation: a CSV source is assumed to be at 5-minute steps, as NAB's files are.
  return source.kind === 'csv' ? 300 : source.stepSeconds;
}
