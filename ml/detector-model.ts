import {
  type Calibration,
  calibrate,
  fitCalibration,
  quantileSorted,
  thresholdForRate,
} from './calibration.js';
import { type FeatureDriftReference, featureDriftReference } from './drift.js';
import { type EventSpan, injectAnomalies, robustScale } from './evaluation/events.js';
import {
  buildFeatures,
  FEATURE_SCHEMA_VERSION,
  type FeatureConfig,
  type FeatureMatrix,
  featureNames,
  warmupPointsOf,
} from './features.js';
import {
  IsolationForest,
  type IsolationForestOptions,
  type SerializedIsolationForest,
} from './isolation-forest.js';
import type { SerializedLstmForecaster } from './models/lstm.js';
import { ProphetModel, type SerializedProphetModel } from './models/prophet.js';
import { ForecastDrift } from './nab-signals.js';
import type { Series } from './series.js';

export const MODEL_SCHEMA_VERSION = 1;

/** The level of one hour of the day in training: its highest value and its spread. */
export interface HourlyLevel {
  readonly max: number;
  /** Robust scale of the hour's values, at least a quarter of the whole series'. */
  readonly scale: number;
}

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
  /**
   * Per feature, the largest robust z-score seen in training. A forest cannot score beyond the
   * range it was grown on: a value three times the daily peak lands in the same leaves as the
   * peak itself. The range guard adds to the raw score how far the value goes beyond its bound,
   * so a sustained plateau stays anomalous after the rolling features settle. Absent in models
   * trained before the guard existed, which score without it.
   */
  readonly featureMaxAbsZ?: number[];
  /**
   * Per hour of the day (UTC), the highest level seen in training at that hour and the spread of
   * levels within it, or null for an hour training never saw. A level above anything seen at its
   * hour (or the hours beside it) is guarded like one beyond the whole range: three times the
   * usual CPU at night may still be below the afternoon peak, and would otherwise stop scoring
   * high as soon as the rolling features settle. Only highs: weekends and holidays run lower than
   * the days a model learned from, and a fall below the whole range is still guarded. Absent in
   * models trained before it existed.
   */
  readonly levelByHour?: (HourlyLevel | null)[];
  /** Training distribution of each feature, to measure drift in the data scored later. */
  readonly featureDrift?: FeatureDriftReference;
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
  const usable = trainingRows(train, options.features);
  const forest = IsolationForest.fit(usable.rows, usable.dims, options.forest);
  return buildDetectorModel(train, validation, options, forest);
}

/** The feature rows a forest is fitted on: the training split without its warm-up. */
export function trainingRows(train: Series, features: FeatureConfig): FeatureMatrix {
  const trainFeatures = buildFeatures(train, features);
  const usable = dropWarmup(trainFeatures);
  if (usable.count < 16) {
    throw new RangeError(
      `training split of '${train.name}' has ${usable.count} usable points after a warm-up of ${trainFeatures.warmupPoints}; at least 16 are needed`,
    );
  }
  return usable;
}

/** Completes a model around a fitted forest: feature statistics, calibration and threshold. */
export function buildDetectorModel(
  train: Series,
  validation: Series,
  options: TrainModelOptions,
  forest: IsolationForest,
): DetectorModel {
  const trainFeatures = buildFeatures(train, options.features);
  const usable = dropWarmup(trainFeatures);
  const { center, scale } = columnStats(usable);
  const guard = {
    featureCenter: center,
    featureScale: scale,
    featureMaxAbsZ: maxAbsZ(usable, center, scale),
    levelByHour: levelByHour(trainFeatures, train.timestampsMs, scale),
  };

  // Validation is scored with the context of the end of training, as it would be in production.
  const context = Math.min(trainFeatures.warmupPoints, train.values.length);
  const validationSeries = concatTail(train, validation, context);
  const validationFeatures = buildFeatures(validationSeries, options.features);
  const validationRaw = guardedScores(
    forest,
    validationFeatures,
    validationSeries.timestampsMs,
    guard,
  ).subarray(context);
  const calibration = fitCalibration(validationRaw);

  return {
    schemaVersion: MODEL_SCHEMA_VERSION,
    featureSchemaVersion: FEATURE_SCHEMA_VERSION,
    featureConfig: options.features,
    featureNames: featureNames(options.features),
    featureCenter: center,
    featureScale: scale,
    featureMaxAbsZ: guard.featureMaxAbsZ,
    ...(guard.levelByHour ? { levelByHour: guard.levelByHour } : {}),
    featureDrift: featureDriftReference(usable),
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
  /** An ensemble's members, each with its calibrated score per point and its weight. */
  readonly members?: readonly MemberScores[];
  /** How the members' scores were combined. */
  readonly fusion?: EnsembleFusion;
}

export interface MemberScores {
  readonly kind: EnsembleMemberKind;
  readonly weight: number;
  readonly scores: Float64Array;
}

/** How much each model contributed to the combined score at a point, largest first. */
export interface ModelContribution {
  readonly kind: EnsembleMemberKind;
  /** The member's own calibrated score in [0, 1]. */
  readonly score: number;
  /** Its weighted share of the combined score, in [0, 1]. */
  readonly share: number;
}

/** The models behind a point's score; empty for a single-forest model. */
export function explainModels(scored: ScoredSeries, index: number): ModelContribution[] {
  const members = scored.members ?? [];
  const weighted = members.map((m) => m.weight * fusedTerm(scored.fusion ?? 'mean', m.scores[index]!));
  const total = weighted.reduce((a, b) => a + b, 0);
  return members
    .map((m, k) => ({ kind: m.kind, score: m.scores[index]!, share: total > 0 ? weighted[k]! / total : 0 }))
    .sort((a, b) => b.share - a.share);
}

/** A model ready to score: the forest is rebuilt once, not per call. */
export interface LoadedDetectorModel {
  readonly model: AnyDetectorModel;
  score(series: Series): ScoredSeries;
  explain(scored: ScoredSeries, index: number, top?: number): FeatureContribution[];
}

export interface FeatureContribution {
  readonly feature: string;
  readonly value: number;
  /** How far the value is from its training median, in robust standard deviations. */
  readonly robustZ: number;
}

/**
 * Loads either format: a single-forest model (schemaVersion 1) or an ensemble (schemaVersion 2).
 * TensorFlow.js is imported only when an LSTM member is loaded: it adds about half a second and
 * 100 MB to a process that serves forests and Prophet alone.
 */
export async function loadDetectorModel(model: AnyDetectorModel): Promise<LoadedDetectorModel> {
  if (model.schemaVersion === ENSEMBLE_SCHEMA_VERSION) return loadEnsembleModel(model);
  if (model.schemaVersion !== MODEL_SCHEMA_VERSION) {
    throw new TypeError(
      `model schemaVersion ${String((model as { schemaVersion: unknown }).schemaVersion)} is not supported (${MODEL_SCHEMA_VERSION} and ${ENSEMBLE_SCHEMA_VERSION} are)`,
    );
  }
  const forest = IsolationForest.fromJSON(model.forest);
  return {
    model,
    score(series) {
      const features = buildFeatures(series, model.featureConfig);
      const raw = guardedScores(forest, features, series.timestampsMs, model);
      const scores = raw.map((r) => calibrate(model.calibration, r));
      const flags = Array.from(scores, (s) => s >= model.threshold);
      return { scores, flags, features };
    },
    explain: (scored, index, top) => explainRow(model, scored, index, top),
  };
}

function explainRow(
  model: Pick<DetectorModel, 'featureCenter' | 'featureScale'>,
  scored: ScoredSeries,
  index: number,
  top = 3,
): FeatureContribution[] {
  const { features } = scored;
  const contributions: FeatureContribution[] = [];
  for (let d = 0; d < features.dims; d++) {
    const value = features.rows[index * features.dims + d]!;
    const robustZ = (value - model.featureCenter[d]!) / model.featureScale[d]!;
    contributions.push({ feature: features.names[d]!, value, robustZ });
  }
  return contributions.sort((a, b) => Math.abs(b.robustZ) - Math.abs(a.robustZ)).slice(0, top);
}

export const ENSEMBLE_SCHEMA_VERSION = 2;

/** Members trained on their own, each in its own activity. */
export type MemberKind = 'isolation-forest' | 'lstm' | 'prophet';

/** Every member an ensemble may hold: the trained ones and those derived from them. */
export type EnsembleMemberKind = MemberKind | ForecastDriftMember['kind'];

/** A trained member as stored: the single-forest model, or a forecaster whose residuals score. */
export type SerializedMember =
  | { readonly kind: 'isolation-forest'; readonly model: DetectorModel }
  | { readonly kind: 'lstm'; readonly model: SerializedLstmForecaster }
  | { readonly kind: 'prophet'; readonly model: SerializedProphetModel };

/**
 * A member with no model of its own: |mean| of the Prophet member's signed residuals (in band
 * half-widths) over the last `points`. A slow regression, latency a little higher all afternoon,
 * stays inside the band at every point, so the band score never stands out; its residuals all
 * lean one way, and their mean does.
 */
export interface ForecastDriftMember {
  readonly kind: 'forecast-drift';
  /** The member whose residuals are averaged. */
  readonly source: 'prophet';
  /** Points averaged; the first `points - 1` of a scored series score 0. */
  readonly points: number;
}

export type EnsembleMember = (SerializedMember | ForecastDriftMember) & {
  /** The spec's weight times the member's recall of planted anomalies (plus a floor), normalised. */
  readonly weight: number;
  /** Share of anomalies planted in validation data that the member ranked above its 99th percentile. */
  readonly plantedRecall?: number;
  /** Maps the member's own score to [0, 1] on the validation split, so members can be averaged. */
  readonly calibration: Calibration;
};

/**
 * Several members scored on the same points, each calibrated on validation, averaged with their
 * weights and calibrated again, so the threshold keeps its meaning: the false-alarm budget.
 */
export interface EnsembleDetectorModel {
  readonly schemaVersion: typeof ENSEMBLE_SCHEMA_VERSION;
  readonly featureSchemaVersion: number;
  /** Features of the explanation (and the warm-up of scoring); the same recipe as a forest's. */
  readonly featureConfig: FeatureConfig;
  readonly featureNames: string[];
  readonly featureCenter: number[];
  readonly featureScale: number[];
  /** Training distribution of each feature, to measure drift in the data scored later. */
  readonly featureDrift?: FeatureDriftReference;
  readonly members: EnsembleMember[];
  /**
   * How calibrated member scores combine. 'tail-evidence' (what training writes) sums the weighted
   * surprise -ln(1 - p) of each member, like Fisher's method for p-values, so one member that is
   * certain carries the score: a forecaster seeing a plateau far outside its band is not averaged
   * away by a forest whose rolling features have settled. 'mean' is the weighted mean, the
   * reading of models stored before this field existed.
   * @default 'mean'
   */
  readonly fusion?: EnsembleFusion;
  readonly calibration: Calibration;
  readonly threshold: number;
}

export type EnsembleFusion = 'mean' | 'tail-evidence';

/** A member's contribution to the combined score under a fusion rule. */
function fusedTerm(fusion: EnsembleFusion, calibrated: number): number {
  // 1e-12 keeps a saturated member finite: 27.6 nats, far beyond any validation tail.
  return fusion === 'tail-evidence' ? -Math.log(Math.max(1 - calibrated, 1e-12)) : calibrated;
}

export type AnyDetectorModel = DetectorModel | EnsembleDetectorModel;

type MemberScorer = (series: Series) => Float64Array;

/**
 * Scorers of the members, in order. A forecast-drift member reads the residuals of the Prophet
 * member beside it; the forecast is computed once per scored series for both.
 */
async function memberScorers(
  members: readonly (SerializedMember | ForecastDriftMember)[],
): Promise<MemberScorer[]> {
  let prophetResiduals: MemberScorer | undefined;
  const scorers = await Promise.all(
    members.map(async (member): Promise<MemberScorer | undefined> => {
      switch (member.kind) {
        case 'isolation-forest': {
          const loaded = await loadDetectorModel(member.model);
          return (series) => loaded.score(series).scores;
        }
        case 'lstm': {
          const { LstmForecaster } = await import('./models/lstm.js');
          const forecaster = LstmForecaster.fromJSON(member.model);
          return (series) => forecaster.scoreSeries(series.values);
        }
        case 'prophet': {
          const prophet = ProphetModel.fromJSON(member.model);
          let last: { series: Series; residuals: Float64Array } | undefined;
          const residuals: MemberScorer = (series) => {
            if (last?.series !== series) {
              last = { series, residuals: prophet.residuals(series.timestampsMs, series.values) };
            }
            return last.residuals;
          };
          prophetResiduals = residuals;
          return (series) => residuals(series).map(Math.abs);
        }
        case 'forecast-drift':
          return undefined;
      }
    }),
  );
  return members.map((member, k) => {
    const scorer = scorers[k];
    if (scorer) return scorer;
    if (member.kind !== 'forecast-drift') throw new TypeError(`member ${k} (${member.kind}) has no scorer`);
    const residuals = prophetResiduals;
    if (!residuals) {
      throw new RangeError(
        `member ${k} ('forecast-drift') averages the residuals of a '${member.source}' member, and the model has none`,
      );
    }
    return (series) => forecastDrift(residuals(series), member.points);
  });
}

/** |mean| of the last `points` signed residuals at every point; 0 until there are that many. */
export function forecastDrift(residuals: ArrayLike<number>, points: number): Float64Array {
  const drift = new ForecastDrift(points);
  return Float64Array.from({ length: residuals.length }, (_, i) => {
    const d = drift.step(residuals[i]!);
    return Number.isFinite(d) ? d : 0;
  });
}

async function loadEnsembleModel(model: EnsembleDetectorModel): Promise<LoadedDetectorModel> {
  const fusion = model.fusion ?? 'mean';
  const loadedScorers = await memberScorers(model.members);
  const scorers = model.members.map((member, k) => ({ member, score: loadedScorers[k]! }));
  const totalWeight = model.members.reduce((sum, m) => sum + m.weight, 0);
  return {
    model,
    score(series) {
      const combined = new Float64Array(series.values.length);
      const members: MemberScores[] = [];
      for (const { member, score } of scorers) {
        const calibrated = score(series).map((r) => calibrate(member.calibration, r));
        const weight = member.weight / totalWeight;
        for (let i = 0; i < combined.length; i++) combined[i]! += weight * fusedTerm(fusion, calibrated[i]!);
        members.push({ kind: member.kind, weight, scores: calibrated });
      }
      const scores = combined.map((c) => calibrate(model.calibration, c));
      const flags = Array.from(scores, (s) => s >= model.threshold);
      return { scores, flags, features: buildFeatures(series, model.featureConfig), members, fusion };
    },
    explain: (scored, index, top) => explainRow(model, scored, index, top),
  };
}

export interface FitEnsembleOptions {
  readonly features: FeatureConfig;
  readonly targetAnomalyRate: number;
  /** Seed of the planted anomalies that weigh the members. @default 1 */
  readonly seed?: number;
  /**
   * Points over which a Prophet member's signed residuals are averaged into a forecast-drift
   * member ({@link ForecastDriftMember}), weighed like the others with the Prophet member's
   * weight; 0 leaves it out. It pays where Prophet tracks the metric closely, so that its
   * residuals are little more than noise: there a day inside the band but low all through (a
   * holiday on NAB's taxi demand) stands out. Where the forecast wanders by itself, as on the
   * simulated workloads (see bench/README.md), a shift must outgrow that wandering first, and
   * the member caught no more shifts. 48 is what the NAB ensemble averages. @default 0
   */
  readonly forecastDriftPoints?: number;
}

/** Share of planted events (after the warm-up) whose highest raw score beats the clean 99th percentile. */
function recallAboveOwnTail(
  clean: Float64Array,
  noisy: Float64Array,
  events: readonly EventSpan[],
  offset: number,
): number {
  const bar = quantileSorted(Float64Array.from(clean).sort(), 0.99);
  let counted = 0;
  let found = 0;
  for (const e of events) {
    if (e.start < offset) continue;
    counted++;
    let best = Number.NEGATIVE_INFINITY;
    for (let i = e.start - offset; i <= e.end - offset && i < noisy.length; i++)
      best = Math.max(best, noisy[i]!);
    if (best > bar) found++;
  }
  return counted > 0 ? found / counted : 0;
}

/**
 * Weighs trained members into one model on the validation split. One forest alone stays a
 * single-forest model (schemaVersion 1), the format every reader of the registry knows.
 */
export async function fitEnsembleModel(
  members: (SerializedMember & { weight: number })[],
  train: Series,
  validation: Series,
  options: FitEnsembleOptions,
): Promise<AnyDetectorModel> {
  const only = members[0];
  if (members.length === 1 && only?.kind === 'isolation-forest') return only.model;
  if (members.length === 0) throw new RangeError("'members' is empty: an ensemble needs at least one");
  const driftPoints = options.forecastDriftPoints ?? 0;
  if (!(Number.isInteger(driftPoints) && driftPoints >= 0)) {
    throw new RangeError(`'forecastDriftPoints' (${driftPoints}) must be a whole number of at least 0`);
  }
  const prophet = members.find((m) => m.kind === 'prophet');
  const all: ((SerializedMember | ForecastDriftMember) & { weight: number })[] = [...members];
  if (prophet && driftPoints > 0) {
    all.push({ kind: 'forecast-drift', source: 'prophet', points: driftPoints, weight: prophet.weight });
  }

  const context = Math.min(train.values.length, ensembleWarmup(all, options.features));
  const scored = concatTail(train, validation, context);
  // Weights need no labels: anomalies planted in a copy of the validation data show which
  // members see this workload's kind of trouble, and a member that sees nothing fades out.
  const planted = injectAnomalies(scored, { perThousand: 5, seed: options.seed ?? 1 });
  const scorers = await memberScorers(all);
  const fitted = all.map((member, k) => {
    const scorer = scorers[k]!;
    const raw = scorer(scored).subarray(context);
    // Forecasters score in band widths or residual scales: a twentieth of one is noise.
    const calibration = fitCalibration(raw, { resolution: member.kind === 'isolation-forest' ? 0 : 0.05 });
    const plantedRecall = recallAboveOwnTail(
      raw,
      scorer(planted.series).subarray(context),
      planted.events,
      context,
    );
    // The floor keeps every member in play, so a change in the workload can still be seen by all.
    return { member, raw, calibration, plantedRecall, evidence: member.weight * (plantedRecall + 0.05) };
  });
  const totalEvidence = fitted.reduce((sum, f) => sum + f.evidence, 0);
  const combined = new Float64Array(validation.values.length);
  const calibrated: EnsembleMember[] = [];
  for (const { member, raw, calibration, plantedRecall, evidence } of fitted) {
    const weight = evidence / totalEvidence;
    calibrated.push({ ...member, weight, plantedRecall, calibration } as EnsembleMember);
    for (let i = 0; i < combined.length; i++) {
      combined[i]! += weight * fusedTerm('tail-evidence', calibrate(calibration, raw[i]!));
    }
  }
  const trainRows = dropWarmup(buildFeatures(train, options.features));
  const { center, scale } = columnStats(trainRows);
  return {
    schemaVersion: ENSEMBLE_SCHEMA_VERSION,
    featureSchemaVersion: FEATURE_SCHEMA_VERSION,
    featureConfig: options.features,
    featureNames: featureNames(options.features),
    featureCenter: center,
    featureScale: scale,
    featureDrift: featureDriftReference(trainRows),
    members: calibrated,
    fusion: 'tail-evidence',
    calibration: fitCalibration(combined),
    threshold: thresholdForRate(options.targetAnomalyRate),
  };
}

/** Points of history each member needs before its scores mean anything. */
function ensembleWarmup(
  members: readonly (SerializedMember | ForecastDriftMember)[],
  features: FeatureConfig,
): number {
  let warmup = warmupPointsOf(features);
  for (const m of members) {
    if (m.kind === 'isolation-forest') warmup = Math.max(warmup, warmupPointsOf(m.model.featureConfig));
    if (m.kind === 'lstm') warmup = Math.max(warmup, m.model.architecture.windowPoints);
    if (m.kind === 'forecast-drift') warmup = Math.max(warmup, m.points);
  }
  return warmup;
}

/**
 * Points before the first one scored that a caller should pass along, so every member scores it
 * from full windows: the rolling features' warm-up, an LSTM's input window, a drift's average.
 */
export function scoringContextPoints(model: AnyDetectorModel): number {
  return model.schemaVersion === ENSEMBLE_SCHEMA_VERSION
    ? ensembleWarmup(model.members, model.featureConfig)
    : warmupPointsOf(model.featureConfig);
}

/** Raw units added per robust standard deviation beyond the training range. */
const RANGE_GUARD_PER_Z = 0.1;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * Spreads of its hour a level may exceed the hour's training maximum before it is guarded: room
 * for one day being busier than the one learned from.
 */
const HOURLY_GUARD_MARGIN = 1;

/** Forest scores plus the range guards (see {@link DetectorModel.featureMaxAbsZ}, `levelByHour`). */
function guardedScores(
  forest: IsolationForest,
  features: FeatureMatrix,
  timestampsMs: ArrayLike<number>,
  guard: Pick<DetectorModel, 'featureCenter' | 'featureScale' | 'featureMaxAbsZ' | 'levelByHour'>,
): Float64Array {
  const raw = forest.scoreMany(features.rows, features.dims);
  const bounds = guard.featureMaxAbsZ;
  // The level only: dispersion features (a rolling std) stay high for a whole window after one
  // spike, and guarding them would stretch that echo into a long run of flags.
  const d = features.names.indexOf('value');
  if (!bounds || d < 0) return raw;
  for (let i = 0; i < features.count; i++) {
    const value = features.rows[i * features.dims + d]!;
    const z = (value - guard.featureCenter[d]!) / guard.featureScale[d]!;
    let excess = Math.max(0, Math.abs(z) - bounds[d]!);
    const hour = guard.levelByHour ? levelNearHour(guard.levelByHour, timestampsMs[i]!) : undefined;
    if (hour) excess = Math.max(excess, (value - hour.max) / hour.scale - HOURLY_GUARD_MARGIN);
    raw[i] = raw[i]! + RANGE_GUARD_PER_Z * excess;
  }
  return raw;
}

function hourOfDay(timestampMs: number): number {
  return Math.floor((((timestampMs % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS);
}

/** The most lenient level of the hour of `timestampMs` and the hours beside it; undefined if none. */
function levelNearHour(
  hourly: readonly (HourlyLevel | null)[],
  timestampMs: number,
): HourlyLevel | undefined {
  const hour = hourOfDay(timestampMs);
  let lenient: HourlyLevel | undefined;
  for (const h of [hour + 23, hour, hour + 1]) {
    const level = hourly[h % 24];
    if (level && (!lenient || level.max + level.scale > lenient.max + lenient.scale)) lenient = level;
  }
  return lenient;
}

/** The level per UTC hour over the rows after warm-up; undefined for features without a level. */
function levelByHour(
  m: FeatureMatrix,
  timestampsMs: ArrayLike<number>,
  scale: number[],
): (HourlyLevel | null)[] | undefined {
  const d = m.names.indexOf('value');
  if (d < 0) return undefined;
  const byHour: number[][] = Array.from({ length: 24 }, () => []);
  for (let i = m.warmupPoints; i < m.count; i++) {
    byHour[hourOfDay(timestampsMs[i]!)]!.push(m.rows[i * m.dims + d]!);
  }
  const floor = scale[d]! / 4;
  return byHour.map((values) => {
    if (values.length === 0) return null;
    let max = Number.NEGATIVE_INFINITY;
    for (const v of values) if (v > max) max = v;
    return { max, scale: Math.max(robustScale(values), floor) };
  });
}

function maxAbsZ(m: FeatureMatrix, center: number[], scale: number[]): number[] {
  const out = new Array<number>(m.dims).fill(0);
  for (let i = 0; i < m.count; i++) {
    for (let d = 0; d < m.dims; d++) {
      out[d] = Math.max(out[d]!, Math.abs(m.rows[i * m.dims + d]! - center[d]!) / scale[d]!);
    }
  }
  return out;
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
