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
   * Most recent points kept for fitting. Bounds the fit time (~0.1 s for 700 points) and the size
   * of the serialised model, which holds its training data. @default 2016 (a week of 5-min steps)
   */
  maxTrainPoints?: number;
  /** Seed of the optimiser, so a refit on load reproduces the same parameters. @default 1 */
  seed?: number;
}

export type ResolvedProphetOptions = Required<ProphetModelOptions>;

export const DEFAULT_PROPHET_OPTIONS: ResolvedProphetOptions = {
  daily: 'auto',
  weekly: 'auto',
  changepointPriorScale: 0.05,
  changepoints: 25,
  bandSigmas: 1.96,
  maxTrainPoints: 2016,
  seed: 1,
};

/**
 * augurs' Prophet cannot export its fitted parameters, so the serialised form keeps what a
 * deterministic refit needs: the options (with the optimiser seed) and the training points.
 * Loading refits, which costs one fit (~0.1-0.3 s for 2,000 points on one core).
 */
export interface SerializedProphetModel {
  readonly kind: 'prophet';
  readonly options: ResolvedProphetOptions;
  readonly timestampsMs: number[];
  readonly values: number[];
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
    /** Standard deviation of the in-sample residuals, in the series' units. */
    readonly residualSigma: number,
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
    ensureProphetRuntime();

    const from = Math.max(0, values.length - o.maxTrainPoints);
    const ts = Float64Array.from(timestampsMs).subarray(from);
    const vs = Float64Array.from(values).subarray(from);
    const prophet = new Prophet({
      optimizer,
      dailySeasonality: seasonality(o.daily),
      weeklySeasonality: seasonality(o.weekly),
      yearlySeasonality: { type: 'manual', enabled: false },
      changepointPriorScale: o.changepointPriorScale,
      nChangepoints: o.changepoints,
      uncertaintySamples: 0,
    });
    prophet.fit({ ds: Array.from(ts, (t) => t / 1000), y: vs }, { seed: o.seed });

    const inSample = prophet.predict().yhat.point;
    let sumSq = 0;
    for (let i = 0; i < vs.length; i++) sumSq += (vs[i]! - inSample[i]!) ** 2;
    const sigma = Math.sqrt(sumSq / vs.length);
    let spread = 0;
    for (const v of vs) spread = Math.max(spread, Math.abs(v));
    // A perfect fit would make the band zero-wide and every rounding error infinitely surprising.
    const floor = 1e-6 * Math.max(spread, 1);
    return new ProphetModel(o, ts.slice(), vs.slice(), prophet, Math.max(sigma, floor));
  }

  static fromJSON(serialized: SerializedProphetModel): ProphetModel {
    if (serialized.kind !== 'prophet') {
      throw new TypeError(`expected a serialized 'prophet', got kind '${String(serialized.kind)}'`);
    }
    return ProphetModel.fit(serialized.timestampsMs, serialized.values, serialized.options);
  }

  toJSON(): SerializedProphetModel {
    return {
      kind: 'prophet',
      options: this.options,
      timestampsMs: Array.from(this.timestampsMs),
      values: Array.from(this.values),
    };
  }

  /** Time of the last training point: forecasts after it use only the past. */
  get trainedUntilMs(): number {
    return this.timestampsMs[this.timestampsMs.length - 1]!;
  }

  forecast(timestampsMs: ArrayLike<number>): ProphetForecast {
    const n = timestampsMs.length;
    const point = new Float64Array(n);
    const lower = new Float64Array(n);
    const upper = new Float64Array(n);
    if (n === 0) return { point, lower, upper };
    const predicted = this.prophet.predict({ ds: Array.from(timestampsMs, (t) => t / 1000) }).yhat.point;
    const half = this.options.bandSigmas * this.residualSigma;
    for (let i = 0; i < n; i++) {
      point[i] = predicted[i]!;
      lower[i] = predicted[i]! - half;
      upper[i] = predicted[i]! + half;
    }
    return { point, lower, upper };
  }

  /** Raw anomaly scores of `values` at `timestampsMs`: see {@link bandScore}. */
  score(timestampsMs: ArrayLike<number>, values: ArrayLike<number>): Float64Array {
    const f = this.forecast(timestampsMs);
    return Float64Array.from({ length: values.length }, (_, i) =>
      bandScore(values[i]!, f.point[i]!, f.lower[i]!, f.upper[i]!),
    );
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
  const half = value >= point ? upper - point : point - lower;
  return Math.abs(value - point) / Math.max(half, 1e-12);
}

function seasonality(option: 'auto' | boolean): ProphetSeasonalityOption {
  return option === 'auto' ? { type: 'auto' } : { type: 'manual', enabled: option };
}
