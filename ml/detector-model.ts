import { type Calibration, calibrate, fitCalibration, thresholdForRate } from './calibration.js';
import { robustScale } from './evaluation/events.js';
import {
  buildFeatures,
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
import type { Series } from './series.js';

export const MODEL_SCHEMA_VERSION = 1;

/**
 * Everything needed to score new data the way the model was trained: the feature recipe, the
 * forest, the calibration of its raw score and the threshold. Plain JSON, stored in the registry.
 */
export interface DetectorModel {
  readonly schemaVersion: typeof MODEL_SCHEMA_VERSION;
  readonly featureSchemaVersion: number;
  readonly featureConfig: FeatureConfig;
  readonly featureNames: string[];
  /** Per-feature median and robust scale on the training rows, to explain what drove a score. */
  readonly featureCenter: number[];
  readonly featureScale: number[];
  readonly forest: SerializedIsolationForest;
  readonly calibration: Calibration;
  /** Calibrated score at or above which a point is flagged. */
  readonly threshold: number;
}

export interface TrainModelOptions {
  features: FeatureConfig;
  forest: IsolationForestOptions;
  /** False-alarm budget on validation data: the share of points allowed above the threshold. */
  targetAnomalyRate: number;
}

/** Fits the forest on `train`, then calibrates its score and sets the threshold on `validation`. */
export function trainDetectorModel(
  train: Series,
  validation: Series,
  options: TrainModelOptions,
): DetectorModel {
  const trainFeatures = buildFeatures(train, options.features);
  const usable = dropWarmup(trainFeatures);
  if (usable.count < 16) {
    throw new RangeError(
      `training split of '${train.name}' has ${usable.count} usable points after a warm-up of ${trainFeatures.warmupPoints}; at least 16 are needed`,
    );
  }
  const forest = IsolationForest.fit(usable.rows, usable.dims, options.forest);
  const { center, scale } = columnStats(usable);

  // Validation is scored with the context of the end of training, as it would be in production.
  const context = Math.min(trainFeatures.warmupPoints, train.values.length);
  const validationRaw = rawScores(forest, concatTail(train, validation, context), options.features).subarray(
    context,
  );
  const calibration = fitCalibration(validationRaw);

  return {
    schemaVersion: MODEL_SCHEMA_VERSION,
    featureSchemaVersion: FEATURE_SCHEMA_VERSION,
    featureConfig: options.features,
    featureNames: featureNames(options.features),
    featureCenter: center,
    featureScale: scale,
    forest: forest.toJSON(),
    calibration,
    threshold: thresholdForRate(options.targetAnomalyRate),
  };
}

export interface ScoredSeries {
  /** Calibrated anomaly score in [0, 1] per point. */
  readonly scores: Float64Array;
  readonly flags: boolean[];
  readonly features: FeatureMatrix;
}

/** A model ready to score: the forest is rebuilt once, not per call. */
export interface LoadedDetectorModel {
  readonly model: DetectorModel;
  score(series: Series): ScoredSeries;
  explain(scored: ScoredSeries, index: number, top?: number): FeatureContribution[];
}

export interface FeatureContribution {
  readonly feature: string;
  readonly value: number;
  /** How far the value is from its training median, in robust standard deviations. */
  readonly robustZ: number;
}

export function loadDetectorModel(model: DetectorModel): LoadedDetectorModel {
  if (model.schemaVersion !== MODEL_SCHEMA_VERSION) {
    throw new TypeError(
      `model schemaVersion ${String(model.schemaVersion)} is not supported (${MODEL_SCHEMA_VERSION} is)`,
    );
  }
  const forest = IsolationForest.fromJSON(model.forest);
  return {
    model,
    score(series) {
      const features = buildFeatures(series, model.featureConfig);
      const raw = forest.scoreMany(features.rows, features.dims);
      const scores = raw.map((r) => calibrate(model.calibration, r));
      const flags = Array.from(scores, (s) => s >= model.threshold);
      return { scores, flags, features };
    },
    explain(scored, index, top = 3) {
      const { features } = scored;
      const contributions: FeatureContribution[] = [];
      for (let d = 0; d < features.dims; d++) {
        const value = features.rows[index * features.dims + d]!;
        const robustZ = (value - model.featureCenter[d]!) / model.featureScale[d]!;
        contributions.push({ feature: features.names[d]!, value, robustZ });
      }
      return contributions.sort((a, b) => Math.abs(b.robustZ) - Math.abs(a.robustZ)).slice(0, top);
    },
  };
}

function rawScores(forest: IsolationForest, series: Series, config: FeatureConfig): Float64Array {
  const features = buildFeatures(series, config);
  return forest.scoreMany(features.rows, features.dims);
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

/** The last `context` points of `head` followed by all of `tail`. */
export function concatTail(head: Series, tail: Series, context: number): Series {
  const from = head.values.length - context;
  const timestampsMs = new Float64Array(context + tail.values.length);
  const values = new Float64Array(context + tail.values.length);
  timestampsMs.set(head.timestampsMs.subarray(from));
  values.set(head.values.subarray(from));
  timestampsMs.set(tail.timestampsMs, context);
  values.set(tail.values, context);
  return { name: tail.name, timestampsMs, values };
}
