import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { initSync, MSTL } from '@bsull/augurs/mstl';
import { medianStepMs, type Series } from './series.js';

/**
 * Short-range forecasting for capacity: a point forecast and an upper band per horizon step, from
 * MSTL (daily and weekly seasonal components, AutoETS on the remainder) or a seasonal-naive
 * baseline, whichever forecast the series' own recent past better.
 */

export type ForecastModelName = 'mstl' | 'seasonal-naive';
export type ForecastModelChoice = 'auto' | ForecastModelName;

export const DAY_MS = 86_400_000;
export const WEEK_MS = 7 * DAY_MS;

export interface ForecastOptions {
  /** How far ahead to forecast. @default 30 */
  readonly horizonMinutes?: number;
  /** Quantile of the upper band; 0.9 means the actual stays below it nine times in ten. @default 0.9 */
  readonly upperQuantile?: number;
  /** `auto` backtests both models on the end of the history and keeps the better. @default 'auto' */
  readonly model?: ForecastModelChoice;
  /**
   * Backtest origins used by `auto`; each costs one extra MSTL fit (~0.1-0.3 s on two weeks of
   * 5-minute points). @default 2
   */
  readonly selectionOrigins?: number;
  /**
   * Only the newest points are fitted: MSTL's cost grows with the length, and two weekly cycles are
   * what weekly seasonality needs. @default 4032 (two weeks of 5-minute points)
   */
  readonly maxHistoryPoints?: number;
}

export interface ForecastResult {
  readonly model: ForecastModelName;
  readonly stepMs: number;
  readonly horizonPoints: number;
  /** Seasonal periods, in points, that the model used (daily, then weekly when the history allows). */
  readonly periodsPoints: readonly number[];
  readonly timestampsMs: readonly number[];
  readonly point: readonly number[];
  readonly upper: readonly number[];
  /** Mean absolute error of each candidate in the backtest, when `auto` chose. */
  readonly backtestMae?: Readonly<Record<ForecastModelName, number>>;
}

/** A forecast path for `horizon` steps after the end of `history`. */
export interface PathForecast {
  readonly point: number[];
  readonly upper: number[];
}

export class ForecastError extends Error {
  override readonly name = 'ForecastError';
}

/** The horizon in points for a step: 30 minutes is 6 points at 5 minutes, 1 point at 30 minutes. */
export function horizonPoints(stepMs: number, horizonMinutes: number): number {
  if (!(stepMs > 0)) throw new ForecastError(`'stepMs' (${stepMs}) must be positive`);
  if (!(horizonMinutes > 0)) throw new ForecastError(`'horizonMinutes' (${horizonMinutes}) must be positive`);
  return Math.max(1, Math.round((horizonMinutes * 60_000) / stepMs));
}

/**
 * Daily and weekly periods in points, each kept only when the history holds two whole cycles of it
 * (MSTL's minimum) and it spans at least two points.
 */
export function seasonalPeriods(stepMs: number, historyPoints: number): number[] {
  return [DAY_MS, WEEK_MS]
    .map((period) => Math.round(period / stepMs))
    .filter((points) => points >= 2 && historyPoints >= 2 * points);
}

/**
 * Repeats the value one period earlier; with period 1 it is the naive last-value forecast. The band
 * adds the `upperQuantile` of the method's own errors over the history, per horizon step.
 */
export function seasonalNaiveForecast(
  history: ArrayLike<number>,
  period: number,
  horizon: number,
  upperQuantile: number,
): PathForecast {
  const n = history.length;
  if (n < period + 1) {
    throw new ForecastError(`seasonal naive needs more than ${period} points of history, got ${n}`);
  }
  const point: number[] = [];
  const upper: number[] = [];
  for (let h = 1; h <= horizon; h++) {
    // The value h steps ahead repeats the one `period` before it, itself maybe a forecast.
    const back = period * Math.ceil(h / period);
    point.push(history[n - back + h - 1]!);
  }
  // Errors of an h-step seasonal-naive forecast over the last cycles, for the band.
  const window = Math.min(n, Math.max(4 * period, 200));
  for (let h = 1; h <= horizon; h++) {
    const back = period * Math.ceil(h / period);
    const errors: number[] = [];
    for (let t = n - window + back; t < n; t++) errors.push(history[t]! - history[t - back]!);
    const q = errors.length > 0 ? quantile(errors, upperQuantile) : 0;
    upper.push(point[h - 1]! + Math.max(0, q));
  }
  return { point, upper };
}

let mstlReady = false;

/** Instantiates augurs' MSTL WebAssembly module once per process; reading its binary is code loading. */
function ensureMstlRuntime(): void {
  if (mstlReady) return;
  const wasmUrl = new URL('mstl_bg.wasm', import.meta.resolve('@bsull/augurs/mstl'));
  initSync({ module: readFileSync(fileURLToPath(wasmUrl)) });
  mstlReady = true;
}

/** MSTL with an AutoETS trend; the band is augurs' interval at the matching two-sided level. */
export function mstlForecast(
  history: ArrayLike<number>,
  periods: readonly number[],
  horizon: number,
  upperQuantile: number,
): PathForecast {
  if (periods.length === 0) throw new ForecastError('MSTL needs at least one seasonal period');
  ensureMstlRuntime();
  const model = MSTL.ets(Uint32Array.from(periods));
  try {
    model.fit(Float64Array.from(history));
    // A two-sided interval at level 2q-1 has its upper edge at the q quantile.
    const forecast = model.predict(horizon, 2 * upperQuantile - 1);
    const point = Array.from(forecast.point);
    const upper = forecast.intervals
      ? Array.from(forecast.intervals.upper, (u, i) => Math.max(u, point[i]!))
      : point.slice();
    if (!point.every(Number.isFinite) || !upper.every(Number.isFinite)) {
      throw new ForecastError('MSTL produced a non-finite forecast');
    }
    return { point, upper };
  } finally {
    model.free();
  }
}

interface FitPlan {
  readonly periods: number[];
  /** Seasonal naive repeats the shortest period, or the last value when there is none. */
  readonly naivePeriod: number;
}

function planFor(stepMs: number, points: number): FitPlan {
  const periods = seasonalPeriods(stepMs, points);
  return { periods, naivePeriod: periods[0] ?? 1 };
}

function forecastWith(
  model: ForecastModelName,
  history: ArrayLike<number>,
  plan: FitPlan,
  horizon: number,
  upperQuantile: number,
): PathForecast {
  if (model === 'mstl') return mstlForecast(history, plan.periods, horizon, upperQuantile);
  return seasonalNaiveForecast(history, plan.naivePeriod, horizon, upperQuantile);
}

/**
 * Forecasts `horizonMinutes` past the last point of the series.
 * Limitation: the series is treated as evenly spaced at its median step; a gap shifts the seasonal
 * alignment of the points after it by the missing count.
 */
export function forecastSeries(series: Series, options: ForecastOptions = {}): ForecastResult {
  const horizonMinutes = options.horizonMinutes ?? 30;
  const upperQuantile = options.upperQuantile ?? 0.9;
  const choice = options.model ?? 'auto';
  const maxHistory = options.maxHistoryPoints ?? 4032;
  if (!(upperQuantile > 0.5 && upperQuantile < 1)) {
    throw new ForecastError(`'upperQuantile' (${upperQuantile}) must be between 0.5 and 1`);
  }
  const stepMs = medianStepMs(series);
  const horizon = horizonPoints(stepMs, horizonMinutes);
  const all = series.values;
  const history = all.subarray(Math.max(0, all.length - maxHistory));
  if (history.length < 2 * horizon + 2) {
    throw new ForecastError(
      `series '${series.name}' has ${history.length} points; forecasting ${horizon} steps needs at least ${2 * horizon + 2}`,
    );
  }
  const plan = planFor(stepMs, history.length);

  let model: ForecastModelName;
  let backtestMae: Record<ForecastModelName, number> | undefined;
  if (choice === 'auto') {
    backtestMae = backtest(history, stepMs, horizon, upperQuantile, options.selectionOrigins ?? 2);
    model = backtestMae.mstl < backtestMae['seasonal-naive'] ? 'mstl' : 'seasonal-naive';
  } else {
    model = choice;
  }
  if (model === 'mstl' && plan.periods.length === 0) model = 'seasonal-naive';

  let path: PathForecast;
  try {
    path = forecastWith(model, history, plan, horizon, upperQuantile);
  } catch (err) {
    // MSTL refuses some degenerate series (constant, too short for its periods): the baseline does not.
    if (model !== 'mstl') throw err;
    model = 'seasonal-naive';
    path = forecastWith(model, history, plan, horizon, upperQuantile);
  }
  const last = series.timestampsMs[series.timestampsMs.length - 1]!;
  return {
    model,
    stepMs,
    horizonPoints: horizon,
    periodsPoints: model === 'mstl' ? plan.periods : [plan.naivePeriod],
    timestampsMs: Array.from({ length: horizon }, (_, i) => last + (i + 1) * stepMs),
    point: path.point,
    upper: path.upper,
    ...(backtestMae ? { backtestMae } : {}),
  };
}

/**
 * Mean absolute error of both models over the last `origins` non-overlapping horizons of the
 * history; MSTL scores Infinity where it cannot fit, so the baseline wins.
 */
function backtest(
  history: Float64Array,
  stepMs: number,
  horizon: number,
  upperQuantile: number,
  origins: number,
): Record<ForecastModelName, number> {
  const totals: Record<ForecastModelName, number> = { mstl: 0, 'seasonal-naive': 0 };
  let counted = 0;
  for (let k = origins; k >= 1; k--) {
    const cut = history.length - k * horizon;
    const train = history.subarray(0, cut);
    const plan = planFor(stepMs, train.length);
    if (train.length < plan.naivePeriod + 1) continue;
    const actual = history.subarray(cut, cut + horizon);
    for (const model of ['mstl', 'seasonal-naive'] as const) {
      let error: number;
      try {
        if (model === 'mstl' && plan.periods.length === 0) throw new ForecastError('no period');
        error = meanAbsoluteError(actual, forecastWith(model, train, plan, horizon, upperQuantile).point);
      } catch {
        error = Number.POSITIVE_INFINITY;
      }
      totals[model] += error;
    }
    counted++;
  }
  if (counted === 0) return { mstl: Number.POSITIVE_INFINITY, 'seasonal-naive': 0 };
  return { mstl: totals.mstl / counted, 'seasonal-naive': totals['seasonal-naive'] / counted };
}

export function meanAbsoluteError(actual: ArrayLike<number>, forecast: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < actual.length; i++) sum += Math.abs(actual[i]! - forecast[i]!);
  return sum / actual.length;
}

/**
 * Symmetric MAPE in percent (0-200); a pair where both are zero counts as a perfect forecast
 * instead of dividing by zero.
 */
export function smape(actual: ArrayLike<number>, forecast: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const f = forecast[i]!;
    const denominator = Math.abs(a) + Math.abs(f);
    sum += denominator === 0 ? 0 : (2 * Math.abs(f - a)) / denominator;
  }
  return (100 * sum) / actual.length;
}

/**
 * The in-sample mean absolute error of the seasonal-naive forecast with `period`: MASE's scale.
 * Zero for a series that repeats exactly, which makes MASE undefined for it.
 */
export function seasonalNaiveScale(history: ArrayLike<number>, period: number): number {
  let sum = 0;
  let count = 0;
  for (let t = period; t < history.length; t++) {
    sum += Math.abs(history[t]! - history[t - period]!);
    count++;
  }
  return count === 0 ? 0 : sum / count;
}

/** Linear-interpolated quantile of unsorted values. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}
