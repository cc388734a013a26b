/**
 * From a resource forecast to a replica count: enough pods that the forecast peak runs at the
 * target utilisation of what the pods request, and a stabilisation rule so the count does not flap.
 * Pure and deterministic, so workflow code can call it.
 */

export type CapacityResource = 'cpu' | 'memory';

export interface ResourceDemand {
  /** Peak of the forecast over the horizon for the whole workload, in cores or bytes. */
  readonly peakForecast: number;
  /** What one pod requests of the same resource, in the same unit. */
  readonly requestPerPod: number;
}

export interface ReplicaBounds {
  readonly minReplicas: number;
  readonly maxReplicas: number;
}

export interface RecommendInput extends ReplicaBounds {
  readonly demands: Partial<Record<CapacityResource, ResourceDemand>>;
  /** Share of the request a pod should use at the peak, in (0, 1]; 0.7 leaves 30% headroom. */
  readonly targetUtilisation: number;
}

export interface ReplicaRecommendation {
  /** Clamped to [minReplicas, maxReplicas]. */
  readonly replicas: number;
  /** Pods the binding resource needs before rounding up and clamping. */
  readonly neededPods: number;
  /** The resource that needs the most pods; undefined when no resource has a request. */
  readonly drivenBy?: CapacityResource;
  readonly perResource: Partial<Record<CapacityResource, number>>;
}

export class CapacityError extends Error {
  override readonly name = 'CapacityError';
}

/**
 * `ceil(peakForecast / (requestPerPod * targetUtilisation))` per resource, the largest across
 * resources, clamped to the bounds. A resource without a request (0) cannot size pods and is skipped.
 */
export function recommendReplicas(input: RecommendInput): ReplicaRecommendation {
  const { targetUtilisation, minReplicas, maxReplicas } = input;
  if (!(targetUtilisation > 0 && targetUtilisation <= 1)) {
    throw new CapacityError(`'targetUtilisation' (${targetUtilisation}) must be in (0, 1]`);
  }
  checkBounds(input);

  const perResource: Partial<Record<CapacityResource, number>> = {};
  let neededPods = 0;
  let drivenBy: CapacityResource | undefined;
  for (const resource of ['cpu', 'memory'] as const) {
    const demand = input.demands[resource];
    if (!demand || !(demand.requestPerPod > 0)) continue;
    if (!Number.isFinite(demand.peakForecast)) {
      throw new CapacityError(`'${resource}.peakForecast' (${demand.peakForecast}) is not a finite number`);
    }
    const pods = Math.max(0, demand.peakForecast) / (demand.requestPerPod * targetUtilisation);
    perResource[resource] = pods;
    if (drivenBy === undefined || pods > neededPods) {
      neededPods = pods;
      drivenBy = resource;
    }
  }
  return {
    replicas: clamp(Math.ceil(roundOff(neededPods)), minReplicas, maxReplicas),
    neededPods,
    ...(drivenBy ? { drivenBy } : {}),
    perResource,
  };
}

export interface StabilisationOptions {
  /** A lower count is adopted only after this many consecutive lower recommendations. @default 3 */
  readonly scaleDownAfter: number;
  /**
   * A recommendation counts as lower only if the need, grown by this fraction, still fits in fewer
   * pods: needs that hover just under a pod boundary then do not trigger a scale-down. @default 0.1
   */
  readonly hysteresis: number;
}

/** What the rule remembers between rounds; small and plain, so it travels through continue-as-new. */
export interface StabilisationState {
  readonly replicas: number;
  /** Lower recommendations seen in a row, newest last. */
  readonly lowerStreak: readonly number[];
}

export interface StabilisedRecommendation {
  readonly replicas: number;
  readonly state: StabilisationState;
  readonly reason: 'initial' | 'scale-up' | 'scale-down' | 'hold' | 'unchanged';
}

/**
 * Scales up at once; scales down only after `scaleDownAfter` consecutive lower recommendations,
 * then to the highest of them, so one dip in the forecast does not remove pods that the next
 * round would add back.
 */
export function stabilise(
  previous: StabilisationState | undefined,
  recommendation: Pick<ReplicaRecommendation, 'replicas' | 'neededPods'>,
  bounds: ReplicaBounds,
  options: StabilisationOptions,
): StabilisedRecommendation {
  if (!Number.isInteger(options.scaleDownAfter) || options.scaleDownAfter < 1) {
    throw new CapacityError(`'scaleDownAfter' (${options.scaleDownAfter}) must be an integer of at least 1`);
  }
  if (!(options.hysteresis >= 0 && options.hysteresis < 1)) {
    throw new CapacityError(`'hysteresis' (${options.hysteresis}) must be in [0, 1)`);
  }
  const proposed = recommendation.replicas;
  if (previous === undefined) {
    return { replicas: proposed, state: { replicas: proposed, lowerStreak: [] }, reason: 'initial' };
  }
  // Bounds may have changed since the last round: the current count is re-clamped first.
  const current = clamp(previous.replicas, bounds.minReplicas, bounds.maxReplicas);
  if (proposed > current) {
    return { replicas: proposed, state: { replicas: proposed, lowerStreak: [] }, reason: 'scale-up' };
  }
  const withMargin = clamp(
    Math.ceil(roundOff(recommendation.neededPods * (1 + options.hysteresis))),
    bounds.minReplicas,
    bounds.maxReplicas,
  );
  const lower = Math.max(proposed, withMargin);
  if (lower >= current) {
    return { replicas: current, state: { replicas: current, lowerStreak: [] }, reason: 'unchanged' };
  }
  const streak = [...previous.lowerStreak, lower].slice(-options.scaleDownAfter);
  if (streak.length < options.scaleDownAfter) {
    return { replicas: current, state: { replicas: current, lowerStreak: streak }, reason: 'hold' };
  }
  const target = Math.max(...streak);
  return { replicas: target, state: { replicas: target, lowerStreak: [] }, reason: 'scale-down' };
}

function checkBounds({ minReplicas, maxReplicas }: ReplicaBounds): void {
  if (!Number.isInteger(minReplicas) || minReplicas < 0) {
    throw new CapacityError(`'minReplicas' (${minReplicas}) must be a non-negative integer`);
  }
  if (!Number.isInteger(maxReplicas) || maxReplicas < minReplicas) {
    throw new CapacityError(
      `'maxReplicas' (${maxReplicas}) must be an integer of at least 'minReplicas' (${minReplicas})`,
    );
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** Drops floating-point noise so that exactly 3 pods' worth (2.9999999999999996) stays 3. */
function roundOff(value: number): number {
  return Math.round(value * 1e9) / 1e9;
}
