import { log } from '@temporalio/activity';
import type { AlertIdentity, AnomalyAlert } from '../clients/alertmanager.js';
import type { DetectorMetrics, SeriesLabels } from '../clients/metrics.js';
import {
  type DetectorModel,
  type LoadedDetectorModel,
  loadDetectorModel,
  scoringContextPoints,
} from '../ml/detector-model.js';
import { binShares, type FeatureDrift, featureDrift } from '../ml/drift.js';
import { buildFeatures, warmupPointsOf } from '../ml/features.js';
import type { Series } from '../ml/series.js';
import type { DetectorSpec } from '../ml/spec.js';
import { ModelNotFoundError, type ModelRegistry } from '../registry/model-registry.js';
import type { ShadowLog } from '../registry/shadow-log.js';
import { badInput, parseSpecOrFail, type SourceReaders } from './sources.js';

/** Where alerts go: the Alertmanager notifier, or a log when no Alertmanager is configured. */
export interface AlertSink {
  fire(alert: AnomalyAlert): Promise<unknown>;
  resolve(identity: AlertIdentity): Promise<unknown>;
}

export interface ScoringActivityDeps {
  readonly registry: ModelRegistry;
  readonly sources: SourceReaders;
  readonly metrics: DetectorMetrics;
  readonly alerts: AlertSink;
  readonly shadowLog: ShadowLog;
  /** @default Date.now; the scoring lag is measured against it. */
  readonly now?: () => number;
}

/**
 * Calibrated scores are uniform on validation data by construction (the calibration is the
 * validation scores' distribution function), so the drift reference is ten equal deciles.
 */
export const SCORE_DRIFT_EDGES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

export interface ScoreStepInput {
  readonly spec: DetectorSpec;
  /** Points after this timestamp are new; every earlier point has been scored. */
  readonly afterMs: number;
  /** The newest timestamp to score: the workflow's clock at this step. */
  readonly untilMs: number;
  /** Forget the cached models and read the registry again. */
  readonly reload?: boolean;
}

export interface ScoreStepResult {
  /** Champion that scored; undefined while the detector has none (nothing is scored). */
  readonly version?: number;
  /** Challenger scored in shadow beside the champion, if any. */
  readonly shadowVersion?: number;
  readonly points: number;
  /** Timestamp of the newest point scored; absent when the source had no new point. */
  readonly lastTimestampMs?: number;
  readonly flagged: number;
  readonly maxScore: number;
  readonly threshold: number;
  /** Features of the highest-scoring new point, largest deviation first. */
  readonly topFeatures: { name: string; contribution: number }[];
  /** Counts of the new points' scores in the deciles of {@link SCORE_DRIFT_EDGES}. */
  readonly scoreBins: number[];
}

export interface FeatureDriftInput {
  readonly spec: DetectorSpec;
  /** The model whose training distribution is the reference. */
  readonly version: number;
  /** The points after this timestamp, up to `untilMs`, are compared with it. */
  readonly afterMs: number;
  readonly untilMs: number;
}

export interface FeatureDriftResult {
  /** Points compared; 0 when the model keeps no reference (trained before it was kept). */
  readonly points: number;
  /** The features that moved most, largest PSI first. */
  readonly top: FeatureDrift[];
}

export interface NotifyAlertInput {
  readonly spec: DetectorSpec;
  readonly action: 'fire' | 'resolve';
  readonly score?: number;
  readonly threshold?: number;
  readonly features?: { name: string; contribution: number }[];
}

export interface ShadowSummaryInput {
  readonly detector: string;
  readonly challengerVersion: number;
  readonly sinceMs: number;
}

/** The labels a detector's scores and alerts carry, from what its source watches. */
export function seriesLabelsOf(spec: DetectorSpec): SeriesLabels {
  switch (spec.source.kind) {
    case 'simulated': {
      const [namespace = '', workload = ''] = spec.source.workload.split('/');
      return { detector: spec.name, namespace, workload, metric: spec.source.metric };
    }
    case 'csv':
      return { detector: spec.name, namespace: '', workload: spec.name, metric: 'value' };
    case 'prometheus':
      return { detector: spec.name, namespace: '', workload: spec.name, metric: 'query' };
  }
}

export function createScoringActivities(deps: ScoringActivityDeps) {
  const { registry, sources, metrics, alerts, shadowLog } = deps;
  const now = deps.now ?? Date.now;
  // Loaded models stay in the worker process: a version is loaded once, whatever the step count.
  const loaded = new Map<string, LoadedDetectorModel>();

  const modelOf = async (detector: string, version: number): Promise<LoadedDetectorModel> => {
    const key = `${detector}@${version}`;
    const hit = loaded.get(key);
    if (hit) return hit;
    try {
      const { model } = await registry.getVersion<DetectorModel>(detector, version);
      const fresh = await loadDetectorModel(model);
      loaded.set(key, fresh);
      log.info('loaded model for scoring', { detector, version });
      return fresh;
    } catch (err) {
      if (err instanceof ModelNotFoundError) throw badInput(err.message, err);
      throw err;
    }
  };

  /**
   * The points after `afterMs` up to `untilMs`, with `contextPoints` of history before them (the
   * rolling features' warm-up, or all a model's members need); `first` is the index of the first
   * new point.
   */
  const readScoredWindow = async (
    spec: DetectorSpec,
    contextPoints: number,
    afterMs: number,
    untilMs: number,
  ): Promise<{ window: Series; first: number }> => {
    const stepMs = sourceStepSeconds(spec) * 1000;
    const warmup = contextPoints + 1;
    const window = await sources.readWindow(scoredSourceOf(spec), afterMs - warmup * stepMs, untilMs);
    let first = 0;
    while (first < window.values.length && window.timestampsMs[first]! <= afterMs) first++;
    return { window, first };
  };

  return {
    /**
     * Fetches the points after `afterMs` with enough history before them for the rolling
     * features, scores them with the champion (and the challenger in shadow), and exports the
     * newest score. Idempotent: a retried step scores and exports the same points again.
     */
    async scoreStep({ spec, afterMs, untilMs, reload }: ScoreStepInput): Promise<ScoreStepResult> {
      const detector = spec.name;
      if (reload) {
        for (const key of [...loaded.keys()]) if (key.startsWith(`${detector}@`)) loaded.delete(key);
      }
      const empty = { points: 0, flagged: 0, maxScore: 0, threshold: 1, topFeatures: [], scoreBins: [] };
      const version = await registry.getAlias(detector, 'champion');
      if (version === undefined) return empty;
      const champion = await modelOf(detector, version);
      const challengerVersion = await registry.getAlias(detector, 'challenger');
      const shadowVersion =
        challengerVersion !== undefined && challengerVersion !== version ? challengerVersion : undefined;
      // Only the champion and the shadow challenger stay loaded: a loop that runs for months
      // through daily promotions would otherwise keep every past version in memory.
      for (const key of [...loaded.keys()]) {
        if (
          key.startsWith(`${detector}@`) &&
          key !== `${detector}@${version}` &&
          key !== `${detector}@${shadowVersion}`
        ) {
          loaded.delete(key);
        }
      }

      const challenger = shadowVersion !== undefined ? await modelOf(detector, shadowVersion) : undefined;
      const started = performance.now();
      const contextPoints = Math.max(
        scoringContextPoints(champion.model),
        challenger ? scoringContextPoints(challenger.model) : 0,
      );
      const { window, first } = await readScoredWindow(spec, contextPoints, afterMs, untilMs);
      const count = window.values.length - first;
      if (count <= 0) return { ...empty, version, ...(shadowVersion ? { shadowVersion } : {}) };

      const scored = champion.score(window);
      const scores = scored.scores.subarray(first);
      const flags = scored.flags.slice(first);
      let worst = 0;
      for (let i = 1; i < count; i++) if (scores[i]! > scores[worst]!) worst = i;
      const topFeatures = champion
        .explain(scored, first + worst)
        .map((c) => ({ name: c.feature, contribution: round(c.robustZ) }));
      const last = window.values.length - 1;
      const lastTimestampMs = window.timestampsMs[last]!;
      const labels = seriesLabelsOf(spec);
      const flagged = flags.filter(Boolean).length;

      metrics.setModelVersion(detector, String(version));
      metrics.recordScore({
        ...labels,
        score: scored.scores[last]!,
        threshold: champion.model.threshold,
        anomalous: scored.flags[last]!,
      });
      metrics.inferenceDuration.observe({ detector }, (performance.now() - started) / 1000);
      metrics.scoringLag.observe({ detector }, Math.max(0, (now() - lastTimestampMs) / 1000));

      if (shadowVersion !== undefined && challenger) {
        const shadow = challenger.score(window);
        metrics.recordScore({
          ...labels,
          detector: `${detector}@challenger`,
          score: shadow.scores[last]!,
          threshold: challenger.model.threshold,
          anomalous: shadow.flags[last]!,
        });
        await shadowLog.append(detector, {
          atMs: untilMs,
          championVersion: version,
          challengerVersion: shadowVersion,
          points: count,
          championFlags: flagged,
          challengerFlags: shadow.flags.slice(first).filter(Boolean).length,
          championScoreSum: sum(scores),
          challengerScoreSum: sum(shadow.scores.subarray(first)),
        });
      }

      const bins = binShares(scores, SCORE_DRIFT_EDGES).map((share) => Math.round(share * count));
      return {
        version,
        ...(shadowVersion !== undefined ? { shadowVersion } : {}),
        points: count,
        lastTimestampMs,
        flagged,
        maxScore: round(scores[worst]!),
        threshold: champion.model.threshold,
        topFeatures,
        scoreBins: bins,
      };
    },

    /**
     * Compares the features of the points scored since the last drift check with the model's
     * training distribution. The points are read again from the source rather than carried
     * through the workflow's history.
     */
    async checkFeatureDrift({
      spec,
      version,
      afterMs,
      untilMs,
    }: FeatureDriftInput): Promise<FeatureDriftResult> {
      const { model } = await modelOf(spec.name, version);
      if (!model.featureDrift) return { points: 0, top: [] };
      const { window, first } = await readScoredWindow(
        spec,
        warmupPointsOf(model.featureConfig),
        afterMs,
        untilMs,
      );
      const points = window.values.length - first;
      if (points <= 0) return { points: 0, top: [] };
      const features = buildFeatures(window, model.featureConfig);
      const drift = featureDrift(model.featureDrift, features, first);
      return { points, top: drift.slice(0, 3).map((d) => ({ feature: d.feature, psi: round(d.psi) })) };
    },

    /**
     * Fires or resolves the detector's alert. Its identity comes from the spec alone, so a retried
     * or repeated call names the same alert and the notifier de-duplicates it by fingerprint.
     */
    async notifyAlert({
      spec,
      action,
      score = 0,
      threshold = 1,
      features = [],
    }: NotifyAlertInput): Promise<void> {
      const labels = seriesLabelsOf(spec);
      const runbookUrl = spec.scoring.runbookUrl;
      if (action === 'fire') {
        await alerts.fire({ ...labels, score, threshold, features, ...(runbookUrl ? { runbookUrl } : {}) });
      } else await alerts.resolve(labels);
    },

    /** Validates a spec and fills its defaults; a bad spec fails at once with every problem listed. */
    async validateScoringSpec(input: unknown): Promise<DetectorSpec> {
      return parseSpecOrFail(input);
    },

    async shadowSummary({ detector, challengerVersion, sinceMs }: ShadowSummaryInput) {
      return shadowLog.summarize(detector, challengerVersion, sinceMs);
    },
  };
}

export type ScoringActivities = ReturnType<typeof createScoringActivities>;

/** Alerts written to the log, for a single machine without Alertmanager. */
export function createLoggedAlerts(
  logger: (message: string, fields: Record<string, unknown>) => void,
): AlertSink {
  return {
    async fire(alert) {
      logger('anomaly alert firing', { ...alert });
    },
    async resolve(identity) {
      logger('anomaly alert resolved', { ...identity });
    },
  };
}

/** The source live points are read from: `scoring.source` when set, else the training source. */
export function scoredSourceOf(spec: DetectorSpec): DetectorSpec['source'] {
  return spec.scoring.source ?? spec.source;
}

/**
 * Spacing of the scored source's points. Limitation: a CSV source is assumed to be at 5-minute
 * steps, as NAB's are.
 */
export function sourceStepSeconds(spec: DetectorSpec): number {
  const source = scoredSourceOf(spec);
  return source.kind === 'csv' ? 300 : source.stepSeconds;
}

function sum(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i]!;
  return total;
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
