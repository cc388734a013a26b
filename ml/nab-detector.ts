import { AnomalyLikelihood, type AnomalyLikelihoodOptions } from './calibration.js';
import { buildFeatures, EXTENDED_FEATURE_CONFIG, type FeatureConfig, warmupPointsOf } from './features.js';
import { IsolationForest } from './isolation-forest.js';
import {
  type LstmForecaster,
  type LstmForecasterOptions,
  type ResidualScorer,
  trainLstmForecasterSync,
} from './models/lstm.js';
import { ProphetModel, type ProphetModelOptions } from './models/prophet.js';
import { CheapSignals, type CheapSignalsOptions, ForecastDrift, RangeSignal } from './nab-signals.js';
import type { StreamingDetector, StreamingDetectorContext, StreamingDetectorFactory } from './streaming.js';

export type MemberKind = 'isolation-forest' | 'lstm' | 'prophet';
export const MEMBER_KINDS: readonly MemberKind[] = ['isolation-forest', 'lstm', 'prophet'];

/** Options of {@link createEnsembleStreamingDetector}. */
export interface EnsembleStreamingOptions {
  /**
   * Members run; each adds its cost. @default ['lstm', 'prophet']: with the forest added the
   * development split scored the same (it was never the most surprised stream at a detection)
   * and the run took longer.
   */
  members?: readonly MemberKind[];
  /** Points between refits of the forest and of Prophet on the recent past. @default 500 */
  retrainEveryPoints?: number;
  /** Points between LSTM retrains, the costliest member. @default 3000 */
  lstmRetrainEveryPoints?: number;
  /** Most recent points a member is trained on. @default 2000 */
  trainPoints?: number;
  features?: FeatureConfig;
  forest?: { trees?: number; sampleSize?: number };
  lstm?: LstmForecasterOptions;
  /**
   * Prophet's options. @default Prophet's own, but with the trend extended linearly past each
   * fit (`trendAfterTraining: 'linear'`): refitted every `retrainEveryPoints`, the streaming
   * detector forecasts a short way ahead, where the last slope holds; on the development split the
   * damped trend scored 76.0 against 77.3.
   */
  prophet?: ProphetModelOptions;
  /**
   * Each stream's anomaly likelihood. Without `historyPoints`, the history is
   * `likelihoodHistoryShare` of the probationary period, the only hint of the file's length a
   * streaming detector has (NAB: 15% of the rows, at most 750).
   */
  likelihood?: AnomalyLikelihoodOptions;
  /** @default 0.5 */
  likelihoodHistoryShare?: number;
  /**
   * Cheap streaming signals fused beside the members (`ml/nab-signals.ts`); they judge from the
   * first rows on, where the members have not been trained yet. Their names are weight keys.
   * @default { zWindows: [], shifts: [{ recent: 5, reference: 200 }] }: the mean of the last 5 rows
   * against the median and MAD of the 200 before them
   */
  signals?: CheapSignalsOptions;
  /**
   * A value beyond the range of every earlier value, widened by this share of it on each side,
   * scores 1 ({@link RangeSignal}); 0 turns it off. @default 0.03
   */
  rangeTolerance?: number;
  /**
   * Days the series must span before a new extreme scores through the range signal (which learns
   * the range all along): until the history covers a weekly cycle, the cycle's own peaks, a
   * Monday's after a Thursday start, are new extremes. @default 7: on the development split 5 to
   * 7 days cut the false alarms from 60 to 54–53 and raised the score from 78.3 to 79.0–79.1; 8
   * lost a window.
   */
  rangeAfterDays?: number;
  /**
   * Rows over which Prophet's signed residuals are averaged into the `prophet-drift` stream
   * ({@link ForecastDrift}): a day of half-hourly data, where a holiday runs low within the band at
   * every row; 0 turns it off. @default 48
   */
  forecastDriftPoints?: number;
  /**
   * After the output reaches a new high, later points are reported at `suppressedFactor` of their
   * score unless they exceed that high, for this many points: NAB counts only the first detection
   * in a window and charges every other detection as a false positive. Without it,
   * `suppressionShare` of the probationary period. @default none
   */
  suppressionPoints?: number;
  /** @default 0.1 */
  suppressionShare?: number;
  /** @default 0 */
  suppressedFactor?: number;
  /** Decades of tail probability mapped onto [0, 1] by the fusion; rarer tails saturate at 1. @default 7 */
  decades?: number;
  /**
   * Exponents on each member's tail probability before the most surprised member is taken.
   * @default { prophet: 1.2, lstm: 0.5, 'shift5/200': 0.3, 'prophet-drift': 1 }: Prophet's band,
   * refitted every `retrainEveryPoints`, was the most reliable member on the development split;
   * others weigh 1.
   */
  weights?: Readonly<Record<string, number>>;
  /**
   * Least raw score a stream must have at the current row for its tail to count, by stream name.
   * The likelihood judges means of the last rows, whose surprise lingers after the row that
   * caused it; with a gate, a forecaster alarms only at a row that is itself well outside the
   * band. @default { prophet: 2 }: one half-width beyond the band's edge. On the development
   * split 1.5 to 2 cut Prophet's false alarms (72 to 66–60) and raised the score (77.3 to
   * 77.9–78.3); 2.25 lost a window.
   */
  gates?: Readonly<Record<string, number>>;
  /** Seed of every random choice. @default 1 */
  seed?: number;
}

/**
 * The extended features without the FFT block, dropped for cost: scoring a streamed point rebuilds
 * the features of its trailing context, and the spectral block alone runs one 64-point FFT per
 * context row. Offline training and scoring through the ensemble keep it.
 */
export const STREAMING_FEATURE_CONFIG: FeatureConfig = Object.freeze({
  ...EXTENDED_FEATURE_CONFIG,
  spectralWindowPoints: 0,
}) as FeatureConfig;

const DEFAULTS = {
  members: ['lstm', 'prophet'] as readonly MemberKind[],
  retrainEveryPoints: 500,
  lstmRetrainEveryPoints: 3000,
  trainPoints: 2000,
  suppressionShare: 0.1,
  suppressedFactor: 0,
  likelihood: { shortPoints: 10 } as AnomalyLikelihoodOptions,
  likelihoodHistoryShare: 0.5,
  signals: { zWindows: [], shifts: [{ recent: 5, reference: 200 }] } as CheapSignalsOptions,
  rangeTolerance: 0.03,
  rangeAfterDays: 7,
  decades: 7,
  forecastDriftPoints: 48,
  weights: { prophet: 1.2, lstm: 0.5, 'shift5/200': 0.3, 'prophet-drift': 1 } as Readonly<
    Record<string, number>
  >,
  gates: { prophet: 2 } as Readonly<Record<string, number>>,
  seed: 1,
};

/**
 * Runs the members on a stream, one point at a time: each member is trained on the past only,
 * first when the probationary period ends and then on a schedule, and each point is scored by
 * the members as trained before it arrived. Returns NaN per member until it is trained.
 */
export class MemberStream {
  private readonly o: EnsembleStreamingOptions & Omit<typeof DEFAULTS, 'likelihood'>;
  private readonly features: FeatureConfig;
  private readonly contextPoints: number;
  private ts: Float64Array = new Float64Array(1024);
  private vs: Float64Array = new Float64Array(1024);
  private n = 0;
  private forest: IsolationForest | undefined;
  private lstm: LstmForecaster | undefined;
  private lstmScorer: ResidualScorer | undefined;
  private prophet: ProphetModel | undefined;
  private prophetForecast: { startMs: number; stepMs: number; point: Float64Array; half: number } | undefined;
  private lastTrainAt = -1;
  private lastLstmTrainAt = -1;
  private lastProphetResidual = Number.NaN;

  constructor(
    private readonly firstTrainAt: number,
    options: EnsembleStreamingOptions = {},
  ) {
    this.o = { ...DEFAULTS, ...options };
    this.features = options.features ?? STREAMING_FEATURE_CONFIG;
    this.contextPoints = warmupPointsOf(this.features) + 1;
  }

  /** Prophet's signed residual at the last step, in band half-widths; NaN when it did not score. */
  get prophetResidual(): number {
    return this.lastProphetResidual;
  }

  step(timestampMs: number, value: number): Record<MemberKind, number> {
    const i = this.n;
    this.lastProphetResidual = Number.NaN;
    if (i >= Math.max(this.firstTrainAt, 32)) this.maybeTrain(i);
    this.push(timestampMs, value);
    const out: Record<MemberKind, number> = {
      'isolation-forest': Number.NaN,
      lstm: Number.NaN,
      prophet: Number.NaN,
    };
    if (this.forest) out['isolation-forest'] = this.scoreForest();
    if (this.lstm && this.lstmScorer) {
      out.lstm = this.lstmScorer.score(value, this.lstm.forecastAt(this.vs, i));
    }
    if (this.prophet) out.prophet = this.scoreProphet(timestampMs, value);
    return out;
  }

  private push(t: number, v: number): void {
    if (this.n === this.vs.length) {
      const ts = new Float64Array(this.n * 2);
      const vs = new Float64Array(this.n * 2);
      ts.set(this.ts);
      vs.set(this.vs);
      this.ts = ts;
      this.vs = vs;
    }
    this.ts[this.n] = t;
    this.vs[this.n] = v;
    this.n++;
  }

  private maybeTrain(i: number): void {
    const members = this.o.members;
    const from = Math.max(0, i - this.o.trainPoints);
    const ts = this.ts.subarray(from, i);
    const vs = this.vs.subarray(from, i);
    if (this.lastTrainAt < 0 || i - this.lastTrainAt >= this.o.retrainEveryPoints) {
      this.lastTrainAt = i;
      if (members.includes('isolation-forest')) this.trainForest(ts, vs);
      if (members.includes('prophet')) this.trainProphet(ts, vs);
    }
    if (
      members.includes('lstm') &&
      (this.lastLstmTrainAt < 0 || i - this.lastLstmTrainAt >= this.o.lstmRetrainEveryPoints)
    ) {
      this.lastLstmTrainAt = i;
      // Fewer epochs on fewer windows than offline training: the stream retrains often instead.
      const lstmOptions = { epochs: 6, maxTrainWindows: 1000, ...this.o.lstm, seed: this.o.seed };
      const windowPoints = lstmOptions.windowPoints ?? 24;
      if (vs.length >= windowPoints + 8) {
        this.lstm = trainLstmForecasterSync(vs, lstmOptions);
        this.lstmScorer = this.lstm.createResidualScorer();
      }
    }
  }

  private trainForest(ts: Float64Array, vs: Float64Array): void {
    const m = buildFeatures({ name: 'train', timestampsMs: ts, values: vs }, this.features);
    const skip = m.count > 2 * m.warmupPoints ? m.warmupPoints : 0;
    if (m.count - skip < 16) return;
    this.forest = IsolationForest.fit(m.rows.subarray(skip * m.dims), m.dims, {
      trees: this.o.forest?.trees ?? 50,
      sampleSize: this.o.forest?.sampleSize ?? 256,
      seed: this.o.seed,
    });
  }

  private scoreForest(): number {
    const from = Math.max(0, this.n - this.contextPoints);
    const m = buildFeatures(
      { name: 'score', timestampsMs: this.ts.subarray(from, this.n), values: this.vs.subarray(from, this.n) },
      this.features,
    );
    return this.forest!.score(m.rows, (m.count - 1) * m.dims);
  }

  private trainProphet(ts: Float64Array, vs: Float64Array): void {
    if (vs.length < 16) return;
    this.prophet?.free();
    this.prophet = ProphetModel.fit(ts, vs, {
      seed: this.o.seed,
      trendAfterTraining: 'linear',
      ...this.o.prophet,
    });
    // One batched forecast on the regular grid ahead replaces a Prophet call per point.
    const stepMs = medianGap(ts);
    const ahead = this.o.retrainEveryPoints + 16;
    const grid = Float64Array.from({ length: ahead }, (_, k) => ts[ts.length - 1]! + (k + 1) * stepMs);
    const f = this.prophet.forecast(grid);
    this.prophetForecast = {
      startMs: grid[0]!,
      stepMs,
      point: f.point,
      half: f.upper[0]! - f.point[0]!,
    };
  }

  private scoreProphet(t: number, v: number): number {
    const f = this.prophetForecast!;
    const k = Math.round((t - f.startMs) / f.stepMs);
    let point: number;
    if (k >= 0 && k < f.point.length && Math.abs(t - (f.startMs + k * f.stepMs)) < f.stepMs / 4)
      point = f.point[k]!;
    else point = this.prophet!.forecast([t]).point[0]!;
    this.lastProphetResidual = (v - point) / Math.max(f.half, 1e-12);
    return Math.abs(this.lastProphetResidual);
  }
}

/**
 * Turns member raw scores into one score in [0, 1]: each member's anomaly likelihood, the most
 * surprised member's tail probability on a log scale, then suppression of repeats.
 */
export class ScoreFusion {
  private readonly likelihoods = new Map<string, AnomalyLikelihood>();
  private high = 0;
  private sinceHigh = Number.POSITIVE_INFINITY;

  constructor(
    private readonly options: {
      likelihood?: AnomalyLikelihoodOptions;
      suppressionPoints: number;
      suppressedFactor: number;
      /**
       * Maps a forecast residual ratio r to r / (r + squash) in [0, 1) before the likelihood, as
       * the forest's score already is. Off by default: bounding the heavy tail also hid real
       * surprises and lowered the NAB score of the development split.
       */
      squash?: number;
      /** Stream weights of the fused tail, log-linear, by member or signal name; absent ones weigh 1. */
      weights?: Readonly<Record<string, number>>;
      /**
       * Least raw score at the current row for a stream's tail to count, by name; below it the
       * stream still learns but reports no surprise. Absent ones have no gate.
       */
      gates?: Readonly<Record<string, number>>;
      /** Decades of tail probability mapped onto [0, 1]: 10 saturates at a tail of 1e-10. @default 10 */
      decades?: number;
      /** 'min': the most surprised member (weighted log tail) decides; 'weighted': weighted mean of log tails. */
      fuse?: 'min' | 'weighted';
    },
  ) {}

  /** Consumes one raw score per stream (members and signals by name; NaN while one is not ready). */
  step(
    raw: Readonly<Record<string, number>>,
    /** A score the fused one is raised to, before suppression (the range signal's). */
    floor = 0,
  ): {
    score: number;
    tails: Record<string, number>;
  } {
    const tails: Record<string, number> = {};
    let maxWeightedLog = 0;
    let logSum = 0;
    let weightSum = 0;
    for (const [kind, r] of Object.entries(raw)) {
      if (!Number.isFinite(r)) continue;
      let l = this.likelihoods.get(kind);
      if (!l) {
        l = new AnomalyLikelihood(this.options.likelihood);
        this.likelihoods.set(kind, l);
      }
      const squash = this.options.squash ?? 0;
      const x = squash > 0 && (kind === 'lstm' || kind === 'prophet') ? r / (r + squash) : r;
      const likelihood = l.update(x);
      const gate = this.options.gates?.[kind];
      const tail = gate !== undefined && r < gate ? 1 : likelihood;
      tails[kind] = tail;
      const w = this.options.weights?.[kind] ?? 1;
      maxWeightedLog = Math.max(maxWeightedLog, -w * Math.log10(Math.max(tail, 1e-300)));
      logSum += w * Math.log10(Math.max(tail, 1e-300));
      weightSum += w;
    }
    const decades = this.options.decades ?? 10;
    let score =
      this.options.fuse === 'weighted'
        ? Math.min(1, Math.max(0, -logSum / Math.max(weightSum, 1e-12) / decades))
        : Math.min(1, maxWeightedLog / decades);
    score = Math.max(score, floor);

    this.sinceHigh++;
    if (this.sinceHigh > this.options.suppressionPoints) this.high = 0;
    if (score > this.high) {
      this.high = score;
      this.sinceHigh = 0;
    } else {
      score *= this.options.suppressedFactor;
    }
    return { score, tails };
  }
}

/**
 * NAB's streaming contract over the production ensemble: members learn from the probationary
 * period, retrain on the recent past on a schedule, and every score uses only earlier rows.
 */
export function createEnsembleStreamingDetector(
  options: EnsembleStreamingOptions = {},
): StreamingDetectorFactory {
  return (context: StreamingDetectorContext): StreamingDetector => {
    const probation = context.probationaryPoints;
    const members = new MemberStream(probation, options);
    const signals = new CheapSignals(options.signals ?? DEFAULTS.signals);
    const tolerance = options.rangeTolerance ?? DEFAULTS.rangeTolerance;
    const range = tolerance > 0 ? new RangeSignal(tolerance) : undefined;
    const rangeAfterMs = (options.rangeAfterDays ?? DEFAULTS.rangeAfterDays) * DAY_MS;
    let firstMs: number | undefined;
    const driftPoints = options.forecastDriftPoints ?? DEFAULTS.forecastDriftPoints;
    const drift = driftPoints > 0 ? new ForecastDrift(driftPoints) : undefined;
    const likelihood = options.likelihood ?? DEFAULTS.likelihood;
    const historyShare = options.likelihoodHistoryShare ?? DEFAULTS.likelihoodHistoryShare;
    const suppressionShare = options.suppressionShare ?? DEFAULTS.suppressionShare;
    const fusion = new ScoreFusion({
      likelihood: {
        ...likelihood,
        historyPoints: likelihood.historyPoints ?? Math.max(50, Math.round(historyShare * probation)),
      },
      suppressionPoints: options.suppressionPoints ?? Math.max(10, Math.round(suppressionShare * probation)),
      suppressedFactor: options.suppressedFactor ?? DEFAULTS.suppressedFactor,
      decades: options.decades ?? DEFAULTS.decades,
      weights: options.weights ?? DEFAULTS.weights,
      gates: options.gates ?? DEFAULTS.gates,
    });
    return {
      step(timestampMs, value) {
        const raw: Record<string, number> = { ...members.step(timestampMs, value), ...signals.step(value) };
        if (drift) raw['prophet-drift'] = drift.step(members.prophetResidual);
        firstMs ??= timestampMs;
        const newExtreme = range?.step(value) === true && timestampMs - firstMs >= rangeAfterMs;
        return fusion.step(raw, newExtreme ? 1 : 0).score;
      },
    };
  };
}

const DAY_MS = 86_400_000;

function medianGap(ts: Float64Array): number {
  const gaps = new Float64Array(ts.length - 1);
  for (let i = 1; i < ts.length; i++) gaps[i - 1] = ts[i]! - ts[i - 1]!;
  gaps.sort();
  return gaps[Math.floor(gaps.length / 2)] ?? 1;
}
