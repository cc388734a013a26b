import {
  ActivityFailure,
  ApplicationFailure,
  continueAsNew,
  defineQuery,
  log,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  ApplyRecommendationResult,
  ForecastingActivities,
  ForecastWorkloadResult,
} from '../activities/forecasting.js';
import { type StabilisationState, stabilise } from '../ml/capacity.js';
import type { ForecastSpec, ForecastWorkload } from '../ml/forecast-spec.js';

/** Validation is local and quick. */
const { validateForecastSpec } = proxyActivities<ForecastingActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});

/**
 * Fetching may wait on Prometheus and the fit takes seconds; retries stop well inside one interval
 * so a round that cannot finish gives way to the next instead of piling up.
 */
const { forecastWorkload } = proxyActivities<ForecastingActivities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 3,
  },
});

/** The Kubernetes API answers in milliseconds; a slow answer is a problem worth retrying soon. */
const { applyRecommendation } = proxyActivities<ForecastingActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumAttempts: 3 },
});

/** What continue-as-new carries into the next run: the round count and the stabilisation memory. */
export interface ForecastCapacityResume {
  readonly round: number;
  readonly stabilisation: Readonly<Record<string, StabilisationState>>;
}

/**
 * The workflow's one argument: a forecast spec (see ml/forecast-spec.ts). `resume` is set by the
 * workflow itself when it continues as new; leave it out when starting one.
 */
export type ForecastCapacityInput = Record<string, unknown> & { readonly resume?: ForecastCapacityResume };

export interface WorkloadStatus {
  readonly workload: string;
  readonly replicas?: number;
  readonly rawReplicas?: number;
  readonly reason?: string;
  readonly drivenBy?: string;
  readonly cpuModel?: string;
  readonly cpuPeakUpper?: number;
  readonly hpa?: ApplyRecommendationResult['hpa'];
  readonly skipped?: string;
  /** The last round's failure for this workload; the other workloads go on. */
  readonly error?: string;
}

export interface ForecastCapacityStatus {
  readonly name: string;
  readonly round: number;
  readonly lastRoundAtMs?: number;
  readonly nextRoundAtMs?: number;
  readonly apply: boolean;
  readonly workloads: readonly WorkloadStatus[];
}

export const forecastStatusQuery = defineQuery<ForecastCapacityStatus>('status');

/**
 * Every `intervalMinutes`, for each workload: forecast CPU and memory `horizonMinutes` ahead,
 * recommend a replica count, stabilise it, export it and, where enabled, set the HPA's
 * minReplicas. Runs until cancelled (or `maxRounds`), continuing as new every `roundsPerRun`.
 */
export async function forecastCapacity(input: ForecastCapacityInput): Promise<ForecastCapacityStatus> {
  const { resume, ...specInput } = input;
  const spec = await validateForecastSpec(specInput);
  let round = resume?.round ?? 0;
  const memory: Record<string, StabilisationState> = { ...(resume?.stabilisation ?? {}) };
  let status: ForecastCapacityStatus = { name: spec.name, round, apply: spec.apply, workloads: [] };
  setHandler(forecastStatusQuery, () => status);

  for (let inThisRun = 0; ; inThisRun++) {
    if (spec.maxRounds !== undefined && round >= spec.maxRounds) return status;
    if (inThisRun >= spec.roundsPerRun || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof forecastCapacity>({
        ...specInput,
        resume: { round, stabilisation: memory },
      });
    }

    const now = Date.now();
    const workloads = await Promise.all(spec.workloads.map((w) => runRound(spec, w, now, memory)));
    round++;
    const nextRoundAtMs = now + spec.intervalMinutes * 60_000;
    status = { name: spec.name, round, lastRoundAtMs: now, nextRoundAtMs, apply: spec.apply, workloads };
    log.info('forecast round finished', {
      name: spec.name,
      round,
      workloads: workloads.length,
      failed: workloads.filter((w) => w.error !== undefined).length,
    });

    if (spec.maxRounds !== undefined && round >= spec.maxRounds) return status;
    await sleep(spec.intervalMinutes * 60_000);
  }
}

async function runRound(
  spec: ForecastSpec,
  workload: ForecastWorkload,
  nowMs: number,
  memory: Record<string, StabilisationState>,
): Promise<WorkloadStatus> {
  const key = `${workload.namespace}/${workload.name}`;
  let forecast: ForecastWorkloadResult;
  try {
    forecast = await forecastWorkload({
      name: spec.name,
      source: spec.source,
      workload,
      settings: {
        horizonMinutes: spec.horizonMinutes,
        model: spec.model,
        upperQuantile: spec.upperQuantile,
        planOn: spec.planOn,
      },
      endMs: nowMs,
    });
  } catch (err) {
    return { workload: key, error: failureMessage(err) };
  }

  const decision = stabilise(memory[key], forecast.recommendation, workload, spec.stabilisation);
  memory[key] = decision.state;
  const base = {
    workload: key,
    replicas: decision.replicas,
    rawReplicas: forecast.recommendation.replicas,
    reason: decision.reason,
    ...(forecast.recommendation.drivenBy ? { drivenBy: forecast.recommendation.drivenBy } : {}),
    ...(forecast.cpu ? { cpuModel: forecast.cpu.model, cpuPeakUpper: forecast.cpu.peakUpper } : {}),
  };
  try {
    const applied = await applyRecommendation({
      name: spec.name,
      workload,
      replicas: decision.replicas,
      apply: spec.apply,
    });
    return {
      ...base,
      ...(applied.hpa ? { hpa: applied.hpa } : {}),
      ...(applied.skipped ? { skipped: applied.skipped } : {}),
    };
  } catch (err) {
    return { ...base, error: failureMessage(err) };
  }
}

/** The innermost message of an activity failure, which names what to fix. */
function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return err.cause.message;
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
