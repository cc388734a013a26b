import { catalogueEntry, renderQuery } from '../clients/promql-catalogue.js';

/**
 * Every weekday and both weekend days, and one day more, so the time-ordered validation split is
 * not the only place a weekday appears.
 */
export const LIVE_TRAINING_DAYS = 8;

export interface LiveDetectorOptions {
  /** Detector name. */
  readonly name: string;
  /** `namespace/name` of a simulated workload. @default 'shop/frontend' */
  readonly workload?: string;
  /** @default 'cpu_usage_cores' */
  readonly metric?:
    | 'cpu_usage_cores'
    | 'memory_working_set_bytes'
    | 'http_request_rate'
    | 'http_latency_p99_seconds'
    | 'http_error_ratio'
    | 'cpu_throttled_ratio';
  /**
   * Prometheus that scrapes the simulated exporter; live points are read there. Without it the
   * detector is scored on the simulator itself, which knows nothing of injected chaos.
   */
  readonly prometheusUrl?: string;
  /** Seconds between points, in training and in scoring. @default 2 */
  readonly stepSeconds?: number;
  /** Range of `rate()` in the scored query, and the averaging of the training history. @default 10 */
  readonly rateWindowSeconds?: number;
  /** Days of simulated history trained on. @default {@link LIVE_TRAINING_DAYS} */
  readonly trainingDays?: number;
  /** Seed of the simulated cluster; the exporter's seed. @default 1 */
  readonly seed?: number;
  /** @default 3 */
  readonly alertAfterSteps?: number;
  /** @default 15 */
  readonly resolveAfterSteps?: number;
  readonly runbookUrl?: string;
}

/**
 * A detector spec that trains on the simulated cluster's history and scores the live PromQL of
 * the same workload and metric. Both sides see the same values at the same instants: the same
 * seed, the same step, and a history averaged over the query's `rate()` window.
 *
 * The defaults trade alert latency against alerts on noise. At a 2 s step the false-alarm budget
 * of 0.002 flags about 3.6 normal points an hour; requiring 3 flagged steps in a row delays a CPU
 * spike's alert by 4 s beyond its first flagged step. Trained on 8 days with the calendar
 * encodings, the detector raised 0 to 1 alerts a day on six of seven simulated days that followed
 * (9 on the seventh) and one alert for each of 24 short CPU spikes, fired a median 6 s after the
 * spike began. Trained on a single day, it raised 30 to 50 a day on weekdays and up to 100 on the
 * day after a weekend: a day of history shows neither the weekly cycle nor, in its time-ordered
 * validation split, every hour of the daily one, so the threshold fits the night and the afternoon
 * outruns it.
 *
 * A plateau above anything seen in training stays flagged through the forest's range guard, so a
 * long spike keeps its alert firing until the spike ends.
 */
export function simulatedWorkloadDetector(options: LiveDetectorOptions): Record<string, unknown> {
  const workload = options.workload ?? 'shop/frontend';
  const metric = options.metric ?? 'cpu_usage_cores';
  const stepSeconds = options.stepSeconds ?? 2;
  const rateWindowSeconds = options.rateWindowSeconds ?? 10;
  const [namespace = '', name = ''] = workload.split('/');
  const query = renderQuery(
    catalogueEntry(metric),
    { namespace, workload: name },
    { window: `${rateWindowSeconds}s` },
  );
  return {
    name: options.name,
    source: {
      kind: 'simulated',
      workload,
      metric,
      days: options.trainingDays ?? LIVE_TRAINING_DAYS,
      stepSeconds,
      seed: options.seed ?? 1,
      rateWindowSeconds,
    },
    // Short windows: a spike leaves the rolling statistics within a minute, so the alert resolves
    // soon after the spike ends, and scoring needs only a minute of Prometheus history to start.
    // The calendar encodings let the forest learn the weekend's lower level apart from the
    // weekday's.
    features: { windowsPoints: [5, 30], diffLags: [1, 5], calendar: true },
    targetAnomalyRate: 0.002,
    scoring: {
      stepSeconds,
      alertAfterSteps: options.alertAfterSteps ?? 3,
      resolveAfterSteps: options.resolveAfterSteps ?? 15,
      ...(options.prometheusUrl !== undefined
        ? { source: { kind: 'prometheus', url: options.prometheusUrl, query, stepSeconds } }
        : {}),
      ...(options.runbookUrl !== undefined ? { runbookUrl: options.runbookUrl } : {}),
    },
    // Drift needs far more than a test's points; a daily retrain keeps the demo's model fresh.
    retrain: { everyHours: 24, onDrift: false },
  };
}
