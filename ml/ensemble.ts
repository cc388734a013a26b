import { type Calibration, calibrate, fitCalibration, quantileSorted } from './calibration.js';
import { injectAnomalies, robustScale } from './evaluation/events.js';
import {
  buildFeatures,
  EXTENDED_FEATURE_CONFIG,
  FEATURE_SCHEMA_VERSION,
  type FeatureConfig,
  type FeatureMatrix,
  featureNames,
} from './features.js';
import {
  IsolationForest,
  type IsolationForestOptions,
  type SerializedIsolationForest,
} from './isolation-forest.js';
import {
  LstmForecaster,
  type LstmForecasterOptions,
  type LstmTrainingProgress,
  type SerializedLstmForecaster,
  trainLstmForecaster,
} from './models/lstm.js';
import { ProphetModel, type ProphetModelOptions, type SerializedProphetModel } from './models/prophet.js';
import type { MemberKind } from './nab-detector.js';
import type { Series } from './series.js';

export type { MemberKind } from './nab-detector.js';

export const ENSEMBLE_SCHEMA_VERSION = 1;

/** Options of {@link trainMember}; each member reads its own part. */
export interface TrainMemberOptions {
  /** Features of the Isolation Forest. @default EXTENDED_FEATURE_CONFIG */
  features?: FeatureConfig;
  forest?: IsolationForestOptions;
  lstm?: LstmForecasterOptions;
  prophet?: ProphetModelOptions;
}

export interface MemberTrainingProgress {
  readonly kind: MemberKind;
  /** Fraction done, in [0, 1]. */
  readonly fraction: number;
  readonly detail?: LstmTrainingProgress;
}

export interface SerializedForestMember {
  readonly kind: 'isolation-forest';
  readonly featureSchemaVersion: number;
  readonly featureConfig: FeatureConfig;
  readonly featureNames: string[];
  /** Per-feature median and robust scale on the training rows, to explain what drove a score. */
  readonly featureCenter: number[];
  readonly featureScale: number[];
  readonly forest: SerializedIsolationForest;
}

export type SerializedMember =
  | SerializedForestMember
  | { readonly kind: 'lstm'; readonly model: SerializedLstmForecaster }
  | { readonly kind: 'prophet'; readonly model: SerializedProphetModel };

/**
 * Trains one member on `series`. Members are independent, so a training workflow runs one
 * activity per member in parallel and passes the results to {@link fitEnsemble}.
 */
export async function trainMember(
  kind: MemberKind,
  series: Series,
  options: TrainMemberOptions = {},
  onProgress?: (progress: MemberTrainingProgress) => void,
): Promise<SerializedMember> {
  switch (kind) {
    case 'isolation-forest': {
      const config = options.features ?? EXTENDED_FEATURE_CONFIG;
      const m = dropWarmup(buildFeatures(series, config));
      if (m.count < 16) {
        throw new RangeError(
          `series '${series.name}' has ${m.count} rows after the feature warm-up; at least 16 are needed`,
        );
      }
      const forest = IsolationForest.fit(m.rows, m.dims, options.forest);
      const { center, scale } = columnStats(m);
      onProgress?.({ kind, fraction: 1 });
      return {
        kind,
        featureSchemaVersion: FEATURE_SCHEMA_VERSION,
        featureConfig: config,
        featureNames: featureNames(config),
        featureCenter: center,
        featureScale: scale,
        forest: forest.toJSON(),
      };
    }
    case 'lstm': {
      const model = await trainLstmForecaster(series.values, options.lstm, (p) =>
        onProgress?.({ kind, fraction: p.epoch / p.epochs, detail: p }),
      );
      return { kind, model: model.toJSON() };
    }
    case 'prophet': {
      const model = ProphetModel.fit(series.timestampsMs, series.values, options.prophet);
      const serialized = model.toJSON();
      model.free();
      onProgress?.({ kind, fraction: 1 });
      return { kind, model: serialized };
    }
  }
}

/** Options of {@link fitEnsemble}. */
export interface FitEnsembleOptions {
  /**
   * Share of clean validation points allowed above the threshold: the false-alarm budget.
   * @default 0.005
   */
  targetAnomalyRate?: number;
  /** Synthetic anomalies planted per 1,000 validation points to weigh the members. @default 5 */
  injectedPerThousand?: number;
  /** @default 1 */
  seed?: number;
}

export interface SerializedEnsemble {
  readonly schemaVersion: typeof ENSEMBLE_SCHEMA_VERSION;
  readonly members: SerializedMember[];
  /** Per member, the map from its raw score to a probability-like score. */
  readonly calibrations: Record<string, Calibration>;
  /** Per member, its weight in the combined score; the weights sum to 1. */
  readonly weights: Record<string, number>;
  /** How each member did on the planted anomalies, the evidence behind its weight. */
  readonly memberRecall: Record<string, number>;
  /** Combined score at or above which a point is flagged. */
  readonly threshold: number;
}

/**
 * Calibrates each member on a validation split (the empirical distribution of its raw scores),
 * weighs the members without labels and sets one threshold. The weights come from synthetic
 * anomalies (spikes, level shifts, bursts of noise) planted in a copy of the validation data:
 * a member earns weight by how many of them it ranks above its own 99th percentile on the clean
 * copy, so no human label is needed and a member that sees nothing on this workload fades out.
 */
export function fitEnsemble(
  validation: Series,
  members: readonly SerializedMember[],
  options: FitEnsembleOptions = {},
): SerializedEnsemble {
  if (members.length === 0) throw new RangeError(`'members' is empty: an ensemble needs at least one`);
  const targetRate = options.targetAnomalyRate ?? 0.005;
  const loaded = members.map(loadMember);
  const planted = injectAnomalies(validation, {
    perThousand: options.injectedPerThousand ?? 5,
    seed: options.seed ?? 1,
  });

  const calibrations: Record<string, Calibration> = {};
  const recall: Record<string, number> = {};
  const cleanCalibrated: Float64Array[] = [];
  for (const m of loaded) {
    const skip = m.warmupPoints;
    const clean = m.raw(validation).subarray(skip);
    const calibration = fitCalibration(clean);
    calibrations[m.kind] = calibration;
    cleanCalibrated.push(clean.map((r) => calibrate(calibration, r)));

    const noisy = m.raw(planted.series);
    const bar = quantileSorted(Float64Array.from(clean).sort(), 0.99);
    let found = 0;
    let counted = 0;
    for (const e of planted.events) {
      if (e.start < skip) continue;
      counted++;
      let best = Number.NEGATIVE_INFINITY;
      for (let i = e.start; i <= e.end; i++) best = Math.max(best, noisy[i]!);
      if (best > bar) found++;
    }
    recall[m.kind] = counted > 0 ? found / counted : 0;
  }

  // A small floor keeps every member in play, so a workload change can still be seen by all.
  const raw = loaded.map((m) => recall[m.kind]! + 0.05);
  const total = raw.reduce((a, b) => a + b, 0);
  const weights: Record<string, number> = {};
  loaded.forEach((m, k) => {
    weights[m.kind] = raw[k]! / total;
  });

  const length = Math.min(...cleanCalibrated.map((c) => c.length));
  const combined = new Float64Array(length);
  loaded.forEach((m, k) => {
    const c = cleanCalibrated[k]!;
    const offset = c.length - length;
    for (let i = 0; i < length; i++) combined[i] = combined[i]! + weights[m.kind]! * c[offset + i]!;
  });
  const threshold = Math.min(0.999, quantileSorted(combined.sort(), 1 - targetRate) + 1e-9);
  loaded.forEach((m) => {
    m.free();
  });

  return {
    schemaVersion: ENSEMBLE_SCHEMA_VERSION,
    members: [...members],
    calibrations,
    weights,
    memberRecall: recall,
    threshold,
  };
}

export interface FeatureContribution {
  readonly feature: string;
  readonly value: number;
  /** Distance from the training median in robust standard deviations. */
  readonly robustZ: number;
}

export interface ScoreExplanation {
  readonly score: number;
  readonly flagged: boolean;
  /** Members by their share of the combined score, largest first. */
  readonly members: { kind: MemberKind; calibrated: number; contribution: number }[];
  /** The Isolation Forest's features furthest from normal at this point. */
  readonly features: FeatureContribution[];
}

export interface EnsembleScores {
  /** Combined score in [0, 1] per point. */
  readonly scores: Float64Array;
  /** Calibrated score per member and point. */
  readonly memberScores: Partial<Record<MemberKind, Float64Array>>;
  readonly flags: boolean[];
  explanations(index: number, topFeatures?: number): ScoreExplanation;
}

export interface LoadedEnsemble {
  readonly ensemble: SerializedEnsemble;
  score(series: Series): EnsembleScores;
  /** Releases the members' WebAssembly memory. */
  free(): void;
}

/** Rebuilds the members once (Prophet refits here: one fit per load) for repeated scoring. */
export function loadEnsemble(ensemble: SerializedEnsemble): LoadedEnsemble {
  if (ensemble.schemaVersion !== ENSEMBLE_SCHEMA_VERSION) {
    throw new TypeError(
      `ensemble schemaVersion ${String(ensemble.schemaVersion)} is not supported (${ENSEMBLE_SCHEMA_VERSION} is)`,
    );
  }
  const members = ensemble.members.map(loadMember);
  return {
    ensemble,
    score(series) {
      const n = series.values.length;
      const scores = new Float64Array(n);
      const memberScores: Partial<Record<MemberKind, Float64Array>> = {};
      let featureMatrix: FeatureMatrix | undefined;
      for (const m of members) {
        const calibration = ensemble.calibrations[m.kind]!;
        const weight = ensemble.weights[m.kind] ?? 0;
        const raw = m.raw(series);
        const calibrated = raw.map((r) => calibrate(calibration, r));
        // Points a member cannot score yet (its warm-up) count as unremarkable.
        calibrated.fill(0.5, 0, Math.min(n, m.warmupPoints));
        memberScores[m.kind] = calibrated;
        for (let i = 0; i < n; i++) scores[i] = scores[i]! + weight * calibrated[i]!;
        if (m.kind === 'isolation-forest') featureMatrix = m.lastFeatures;
      }
      const flags = Array.from(scores, (s) => s >= ensemble.threshold);
      return {
        scores,
        memberScores,
        flags,
        explanations(index, topFeatures = 3) {
          const byMember = members
            .map((m) => {
              const calibrated = memberScores[m.kind]![index]!;
              return { kind: m.kind, calibrated, contribution: (ensemble.weights[m.kind] ?? 0) * calibrated };
            })
            .sort((a, b) => b.contribution - a.contribution);
          const forest = ensemble.members.find(
            (m): m is SerializedForestMember => m.kind === 'isolation-forest',
          );
          const features: FeatureContribution[] = [];
          if (forest && featureMatrix) {
            for (let d = 0; d < featureMatrix.dims; d++) {
              const value = featureMatrix.rows[index * featureMatrix.dims + d]!;
              const robustZ = (value - forest.featureCenter[d]!) / forest.featureScale[d]!;
              features.push({ feature: featureMatrix.names[d]!, value, robustZ });
            }
            features.sort((a, b) => Math.abs(b.robustZ) - Math.abs(a.robustZ));
          }
          return {
            score: scores[index]!,
            flagged: flags[index]!,
            members: byMember,
            features: features.slice(0, topFeatures),
          };
        },
      };
    },
    free() {
      for (const m of members) m.free();
    },
  };
}

interface LoadedMember {
  readonly kind: MemberKind;
  /** Leading points whose raw score has no full context. */
  readonly warmupPoints: number;
  raw(series: Series): Float64Array;
  readonly lastFeatures?: FeatureMatrix;
  free(): void;
}

function loadMember(member: SerializedMember): LoadedMember {
  switch (member.kind) {
    case 'isolation-forest': {
      const forest = IsolationForest.fromJSON(member.forest);
      const loaded: { -readonly [K in keyof LoadedMember]: LoadedMember[K] } = {
        kind: member.kind,
        warmupPoints: 0,
        raw(series) {
          const m = buildFeatures(series, member.featureConfig);
          loaded.warmupPoints = m.warmupPoints;
          loaded.lastFeatures = m;
          return forest.scoreMany(m.rows, m.dims);
        },
        free() {},
      };
      return loaded;
    }
    case 'lstm': {
      const model = LstmForecaster.fromJSON(member.model);
      return {
        kind: member.kind,
        warmupPoints: model.options.windowPoints,
        raw: (series) => model.scoreSeries(series.values),
        free() {},
      };
    }
    case 'prophet': {
      const model = ProphetModel.fromJSON(member.model);
      return {
        kind: member.kind,
        warmupPoints: 0,
        raw: (series) => model.score(series.timestampsMs, series.values),
        free: () => model.free(),
      };
    }
  }
}

function dropWarmup(m: FeatureMatrix): FeatureMatrix {
  const skip = m.count > m.warmupPoints * 2 ? m.warmupPoints : 0;
  return { ...m, count: m.count - skip, rows: m.rows.subarray(skip * m.dims), warmupPoints: 0 };
}

function columnStats(m: FeatureMatrix): { center: number[]; scale: number[] } {
  const center: number[] = [];
  const scale: number[] = [];
  const column = new Float64Array(m.count);
  for (let d = 0; d < m.dims; d++) {
    for (let i = 0; i < m.count; i++) column[i] = m.rows[i * m.dims + d]!;
    const sorted = Float64Array.from(column).sort();
    center.push(sorted[Math.floor(sorted.length / 2)]!);
    scale.push(robustScale(sorted));
  }
  return { center, scale };
}
