import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { initSync, Prophet, type ProphetSeasonalityOption } from '@bsull/augurs/prophet';
import { optimizer } from '@bsull/augurs-prophet-wasmstan';

/** Options of {@link fitProphetModel}. */
export interface ProphetModelOptions {
  /** Daily seasonality: 'auto' lets Prophet enable it when the history spans more than two days. @default 'auto' */
  daily?: 'auto' | boolean;
  /** Weekly seasonality: 'auto' enables it when the history spans more than two weeks. @default 'auto' */
  weekly?: 'auto' | boolean;
  /** Trend flexibility: larger values let the trend bend more at changepoints. @default 0.05 */
  changepointPriorScale?: number;
  /** Candidate trend changepoints in the first 80% of the history. @default 25 */
  changepoints?: number;
  /** Half-width of the forecast band in residual standard deviations: 1.96 is a 95% band. @default 1.96 */
  bandSigmas?: number;
  /**
   * Most points the fit sees: the newest this many, or, when `historyDays` holds more, those days
   * averaged into this many equal stretches of time, so a fine scrape step still spans the days
   * that daily and weekly seasonality need. Bounds the fit time (~0.1 s for 700 points) and the
   * size of the serialised model, which holds its training data. @default 2016 (a week of 5-min
   * steps)
   */
  maxTrainPoints?: number;
  /**
   * Days of the most recent history the fit covers at least, when the data has them, even if
   * they hold more than `maxTrainPoints` points. A little over two weeks lets the 'auto' weekly
   * seasonality switch on. @default 15
   */
  historyDays?: number;
  /** Seed of the optimiser, so a refit on load reproduces the same parameters. @default 1 */
  seed?: number;
  /**
   * How the trend runs past the last training point. 'damped' follows its last slope at first
   * and flattens it with time constant `trendDampingDays`, so the trend moves at most slope ×
   * that many days beyond its last level; 'linear' extends the slope for ever, as Prophet does. A
   * detector is scored for days after its fit, and a slope learned from its last few days (a
   * Monday climbing out of a quiet weekend reads as growth) would otherwise carry the forecast
   * away from the data and every point past the band. Models saved before this option read
   * 'linear'. @default 'damped'
   */
  trendAfterTraining?: 'damped' | 'linear';
  /** Time constant of the damped trend, in days. @default 1 */
  trendDampingDays?: number;
}

export type ResolvedProphetOptions = Required<ProphetModelOptions>;

export const DEFAULT_PROPHET_OPTIONS: ResolvedProphetOptions = {
  daily: 'auto',
  weekly: 'auto',
  changepointPriorScale: 0.05,
  changepoints: 25,
  bandSigmas: 1.96,
  maxTrainPoints: 2016,
  historyDays: 15,
  seed: 1,
  trendAfterTraining: 'damped',
  trendDampingDays: 1,
};

/**
 * augurs' Prophet cannot export its fitted parameters, so the serialised form keeps what a
 * deterministic refit needs: the options (with the optimiser seed) and the points fitted (averaged
 * when the history had more than `maxTrainPoints`). Loading refits, which costs one fit
 * (~0.1-0.3 s for 2,000 points on one core).
 */
export interface SerializedProphetModel {
  readonly kind: 'prophet';
  readonly options: ResolvedProphetOptions;
  readonly timestampsMs: number[];
  readonly values: number[];
  /**
   * The band's residual standard deviation, measured on the raw points; absent in models saved
   * before averaging existed, which fitted raw points and recompute it on load.
   */
  readonly residualSigma?: number;
  /** Time of the newest raw point; absent in older models, where it is the last fitted point's. */
  readonly trainedUntilMs?: number;
}

export interface ProphetForecast {
  readonly point: Float64Array;
  readonly lower: Float64Array;
  readonly upper: Float64Array;
}

let runtimeReady = false;

/**
 * Instantiates augurs' Prophet WebAssembly module once per process. Reading the module's own
 * binary is code loading, the same as an import, not data input.
 */
function ensureProphetRuntime(): void {
  if (runtimeReady) return;
  const wasmUrl = new URL('prophet_bg.wasm', import.meta.resolve('@bsull/augurs/prophet'));
  initSync({ module: readFileSync(fileURLToPath(wasmUrl)) });
  runtimeReady = true;
}

/**
 * Prophet (trend with changepoints plus Fourier seasonalities) fitted by MAP estimation. The
 * forecast band is the point forecast ± `bandSigmas` in-sample residual standard deviations:
 * deterministic, unlike Prophet's sampled intervals, and cheap to evaluate.
 */
export class ProphetModel {
  private constructor(
    readonly options: ResolvedProphetOptions,
    private readonly timestampsMs: Float64Array,
    private readonly values: Float64Array,
    private readonly prophet: Prophet,
    /** Standard deviation of the in-sample residuals of the raw points, in the series' units. */
    readonly residualSigma: number,
    /** Time of the last training point: forecasts after it use only the past. */
    readonly trainedUntilMs: number,
    /** Added to the values before fitting and taken off every forecast. */
    private readonly offset: number,
  ) {}

  static fit(
    timestampsMs: ArrayLike<number>,
    values: ArrayLike<number>,
    options: ProphetModelOptions = {},
  ): ProphetModel {
    const o: ResolvedProphetOptions = { ...DEFAULT_PROPHET_OPTIONS, ...options };
    if (timestampsMs.length !== values.length) {
      throw new RangeError(
        `'timestampsMs' (${timestampsMs.length}) and 'values' (${values.length}) differ in length`,
      );
    }
    if (values.length < 8) throw new RangeError(`Prophet needs at least 8 points, got ${values.length}`);
    if (!Number.isInteger(o.maxTrainPoints) || o.maxTrainPoints < 8) {
      throw new RangeError(`'maxTrainPoints' (${o.maxTrainPoints}) must be an integer of at least 8`);
    }
    if (!(o.historyDays > 0)) throw new RangeError(`'historyDays' (${o.historyDays}) must be positive`);
    if (!(o.trendDampingDays > 0)) {
      throw new RangeError(`'trendDampingDays' (${o.trendDampingDays}) must be positive`);
    }
    if (o.trendAfterTraining !== 'damped' && o.trendAfterTraining !== 'linear') {
      throw new RangeError(
        `'trendAfterTraining' (${String(o.trendAfterTraining)}) must be 'damped' or 'linear'`,
      );
    }
    const n = values.length;
    const newest = timestampsMs[n - 1]!;
    // The newest `maxTrainPoints` points, or the newest `historyDays` if those span more.
    let from = n - 1;
    while (from > 0 && newest - timestampsMs[from - 1]! <= o.historyDays * DAY_MS) from--;
    from = Math.min(from, Math.max(0, n - o.maxTrainPoints));
    const rawTs = Float64Array.from(timestampsMs).subarray(from);
    const rawVs = Float64Array.from(values).subarray(from);
    const { ts, vs } = averageInto(rawTs, rawVs, o.maxTrainPoints);
    // Averaging narrows the spread; the band must hold the raw points it will judge.
    const recent = Math.max(0, rawTs.length - SIGMA_POINTS);
    return ProphetModel.fitPoints(o, ts, vs, newest, {
      ts: rawTs.subarray(recent),
      vs: rawVs.subarray(recent),
    });
  }

  /**
   * Fits exactly these points. The band is the given residual standard deviation, or that of the
   * in-sample residuals of `band`'s points, or of the fitted points themselves.
   */
  private static fitPoints(
    o: ResolvedProphetOptions,
    ts: Float64Array,
    vs: Float64Array,
    trainedUntilMs: number,
    band: number | { ts: Float64Array; vs: Float64Array } = { ts, vs },
  ): ProphetModel {
    ensureProphetRuntime();
    // Prophet scales by the largest |y| and its WebAssembly build aborts when that is 0: a metric
    // that stayed at zero (an error rate on a good week) is fitted one unit up instead.
    const offset = vs.every((v) => v === 0) ? 1 : 0;
    const data = { ds: secondsOf(ts), y: Array.from(vs, (v) => v + offset) };
    let prophet: Prophet | undefined;
    const failures: string[] = [];
    for (const { algorithm, scaling } of FIT_ATTEMPTS) {
      const candidate = newProphet(o, scaling);
      try {
        candidate.fit(data, { seed: o.seed, algorithm });
        prophet = candidate;
        break;
      } catch (err) {
        failures.push(`${algorithm} with ${scaling} scaling: ${briefly(err)}`);
        try {
          candidate.free();
        } catch {
          // A fit that aborted inside WebAssembly leaves the object borrowed; it cannot be freed.
        }
      }
    }
    if (!prophet) {
      throw new RangeError(
        `Prophet's optimiser found no fit for ${vs.length} points from ${new Date(ts[0]!).toISOString()} to ${new Date(ts[ts.length - 1]!).toISOString()} (${failures.join('; ')})`,
      );
    }
    const sigma = typeof band === 'number' ? band : residualSigmaOf(prophet, band.ts, band.vs, offset);
    return new ProphetModel(o, ts.slice(), vs.slice(), prophet, sigma, trainedUntilMs, offset);
  }

  static fromJSON(serialized: SerializedProphetModel): ProphetModel {
    if (serialized.kind !== 'prophet') {
      throw new TypeError(`expected a serialized 'prophet', got kind '${String(serialized.kind)}'`);
    }
    const o: ResolvedProphetOptions = {
      ...DEFAULT_PROPHET_OPTIONS,
      // What models saved before the option existed were calibrated with.
      trendAfterTraining: 'linear',
      ...(serialized.options as ProphetModelOptions),
    };
    const ts = Float64Array.from(serialized.timestampsMs);
    if (ts.length < 8) throw new RangeError(`Prophet needs at least 8 points, got ${ts.length}`);
    return ProphetModel.fitPoints(
      o,
      ts,
      Float64Array.from(serialized.values),
      serialized.trainedUntilMs ?? ts[ts.length - 1]!,
      serialized.residualSigma,
    );
  }

  toJSON(): SerializedProphetModel {
    return {
      kind: 'prophet',
      options: this.options,
      timestampsMs: Array.from(this.timestampsMs),
      values: Array.from(this.values),
      residualSigma: this.residualSigma,
      trainedUntilMs: this.trainedUntilMs,
    };
  }

  forecast(timestampsMs: ArrayLike<number>): ProphetForecast {
    const n = timestampsMs.length;
    const point = new Float64Array(n);
    const lower = new Float64Array(n);
    const upper = new Float64Array(n);
    if (n === 0) return { point, lower, upper };
    const predictions = this.prophet.predict({ ds: secondsOf(timestampsMs) });
    const predicted = predictions.yhat.point;
    const half = this.options.bandSigmas * this.residualSigma;
    const damped = this.options.trendAfterTraining === 'damped';
    for (let i = 0; i < n; i++) {
      const ahead = timestampsMs[i]! - this.trainedUntilMs;
      const shift = damped && ahead > 0 ? this.dampedTrend(ahead) - predictions.trend.point[i]! : 0;
      point[i] = predicted[i]! + shift - this.offset;
      lower[i] = point[i]! - half;
      upper[i] = point[i]! + half;
    }
    return { point, lower, upper };
  }

  /** Raw anomaly scores of `values` at `timestampsMs`: see {@link bandScore}. */
  score(timestampsMs: ArrayLike<number>, values: ArrayLike<number>): Float64Array {
    return this.residuals(timestampsMs, values).map(Math.abs);
  }

  /** Signed residuals of `values` at `timestampsMs` in band half-widths: see {@link bandResidual}. */
  residuals(timestampsMs: ArrayLike<number>, values: ArrayLike<number>): Float64Array {
    const f = this.forecast(timestampsMs);
    return Float64Array.from({ length: values.length }, (_, i) =>
      bandResidual(values[i]!, f.point[i]!, f.lower[i]!, f.upper[i]!),
    );
  }

  private trendEnd: { level: number; slopePerMs: number } | undefined;

  /** The trend `aheadMs` after the training end: its last slope, flattening with the damping time. */
  private dampedTrend(aheadMs: number): number {
    if (!this.trendEnd) {
      // The slope of the last linear piece: Prophet's changepoints all lie inside the history.
      const [before, end] = this.prophet.predict({
        ds: secondsOf([this.trainedUntilMs - HOUR_MS, this.trainedUntilMs]),
      }).trend.point;
      this.trendEnd = { level: end!, slopePerMs: (end! - before!) / HOUR_MS };
    }
    const tauMs = this.options.trendDampingDays * DAY_MS;
    return this.trendEnd.level + this.trendEnd.slopePerMs * tauMs * (1 - Math.exp(-aheadMs / tauMs));
  }

  /** Releases the WebAssembly memory of the fitted model; the object is unusable afterwards. */
  free(): void {
    this.prophet.free();
  }
}

/**
 * Where a value falls relative to a forecast band, in half-widths from the point forecast: 0 on
 * the forecast, 1 on the edge of the band, 3 at twice the band's half-width outside it. Scaling by
 * the width makes one unit of surprise mean the same on quiet and noisy series.
 */
export function bandScore(value: number, point: number, lower: number, upper: number): number {
  return Math.abs(bandResidual(value, point, lower, upper));
}

/**
 * {@link bandScore} with its sign: positive above the point forecast, negative below. Averaged
 * over many points it shows a forecast the data has left in one direction, even while every
 * point stays inside the band.
 */
export function bandResidual(value: number, point: number, lower: number, upper: number): number {
  const half = value >= point ? upper - point : point - lower;
  return (value - point) / Math.max(half, 1e-12);
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Raw points whose residuals measure the band when the fit saw averages: bounds one predict call. */
const SIGMA_POINTS = 20_000;

/**
 * Averages a series into at most `maxPoints` equal stretches of time ending at its last point,
 * each point at the mean time of the points in its stretch; stretches without points are left
 * out. A series of `maxPoints` or fewer points is returned as it is.
 */
export function averageInto(
  ts: Float64Array,
  vs: Float64Array,
  maxPoints: number,
): { ts: Float64Array; vs: Float64Array } {
  const n = ts.length;
  if (n <= maxPoints) return { ts, vs };
  const first = ts[0]!;
  const span = ts[n - 1]! - first;
  const width = span / maxPoints;
  const sumT = new Float64Array(maxPoints);
  const sumV = new Float64Array(maxPoints);
  const count = new Uint32Array(maxPoints);
  for (let i = 0; i < n; i++) {
    const k = width > 0 ? Math.min(maxPoints - 1, Math.floor((ts[i]! - first) / width)) : 0;
    sumT[k] = sumT[k]! + ts[i]!;
    sumV[k] = sumV[k]! + vs[i]!;
    count[k] = count[k]! + 1;
  }
  const outT: number[] = [];
  const outV: number[] = [];
  for (let k = 0; k < maxPoints; k++) {
    if (count[k] === 0) continue;
    outT.push(sumT[k]! / count[k]!);
    outV.push(sumV[k]! / count[k]!);
  }
  return { ts: Float64Array.from(outT), vs: Float64Array.from(outV) };
}

/** Root mean square of the in-sample residuals, floored so a perfect fit still has a band. */
function residualSigmaOf(prophet: Prophet, ts: Float64Array, vs: Float64Array, offset: number): number {
  const predicted = prophet.predict({ ds: secondsOf(ts) }).yhat.point;
  let sumSq = 0;
  let spread = 0;
  for (let i = 0; i < vs.length; i++) {
    sumSq += (vs[i]! + offset - predicted[i]!) ** 2;
    spread = Math.max(spread, Math.abs(vs[i]! + offset));
  }
  // A perfect fit would make the band zero-wide and every rounding error infinitely surprising.
  // Relative to the metric's size: a metric near 1e-6 that moves by 1e-8 must keep a band narrower
  // than its moves.
  return Math.max(Math.sqrt(sumSq / vs.length), 1e-6 * spread, Number.MIN_VALUE);
}

/**
 * Fits tried in turn. Prophet's own fallback is Newton's method when L-BFGS stops without
 * converging. Both can abort on a series that varies little around a large level (a temperature
 * near 70), which Prophet's default scaling by the largest |y| squeezes into a sliver below 1;
 * scaling by the range spreads it over [0, 1].
 */
const FIT_ATTEMPTS = [
  { algorithm: 'lbfgs', scaling: 'absMax' },
  { algorithm: 'newton', scaling: 'absMax' },
  { algorithm: 'lbfgs', scaling: 'minMax' },
] as const;

function newProphet(o: ResolvedProphetOptions, scaling: 'absMax' | 'minMax'): Prophet {
  return new Prophet({
    optimizer,
    scaling,
    dailySeasonality: seasonality(o.daily),
    weeklySeasonality: seasonality(o.weekly),
    yearlySeasonality: { type: 'manual', enabled: false },
    changepointPriorScale: o.changepointPriorScale,
    nChangepoints: o.changepoints,
    uncertaintySamples: 0,
  });
}

/** Prophet takes whole seconds: a millisecond fraction (an averaged or a sub-second time) is rounded. */
function secondsOf(timestampsMs: ArrayLike<number>): number[] {
  return Array.from(timestampsMs, (t) => Math.round(t / 1000));
}

/** The optimiser's first two lines: where it failed and why; the rest is a stack. */
function briefly(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .slice(0, 2)
    .join(' ');
}

function seasonality(option: 'auto' | boolean): ProphetSeasonalityOption {
  return option === 'auto' ? { type: 'auto' } : { type: 'manual', enabled: option };
}
