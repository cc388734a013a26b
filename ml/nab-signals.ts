/**
 * Cheap streaming signals for the NAB ensemble: each judges the newest value against a trailing
 * window of earlier values only, with robust statistics (median and MAD), so they work from the
 * first few dozen rows on, where the trained members have too little history.
 */

/** Options of {@link CheapSignals}. */
export interface CheapSignalsOptions {
  /** Trailing windows of the robust z of the value. @default [64, 512] */
  zWindows?: readonly number[];
  /** Trailing windows of the robust z of the first difference. @default [] */
  diffWindows?: readonly number[];
  /** Mean-shift signals: the mean of the last `recent` rows against the `reference` rows before them. @default [] */
  shifts?: readonly { recent: number; reference: number }[];
  /** Rows needed in a window before its signal is reported. @default 16 */
  minPoints?: number;
  /** Raw signal values are capped here, so one flat stretch cannot swamp the likelihood. @default 50 */
  cap?: number;
}

/** Median and scaled MAD of `values`, sorted in place (the copy passed is a scratch buffer). */
export function robustLocationScale(values: Float64Array): { median: number; sigma: number } {
  const n = values.length;
  if (n === 0) return { median: 0, sigma: 0 };
  values.sort();
  const median = mid(values);
  for (let i = 0; i < n; i++) values[i] = Math.abs(values[i]! - median);
  values.sort();
  return { median, sigma: 1.4826 * mid(values) };
}

function mid(sorted: Float64Array): number {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

interface Window {
  readonly points: number;
  readonly refresh: number;
  median: number;
  sigma: number;
  at: number;
}

/**
 * Robust z scores of each new value against trailing windows of the past, and mean shifts of the
 * last few rows against the rows before them. Every statistic uses rows strictly before the one
 * judged (the mean shift includes the newest rows in its recent mean, never in its reference).
 */
export class CheapSignals {
  private readonly o: Required<CheapSignalsOptions>;
  private vs: Float64Array = new Float64Array(1024);
  private ds: Float64Array = new Float64Array(1024);
  private n = 0;
  private readonly zs: Window[];
  private readonly dz: Window[];
  private readonly sh: (Window & { recent: number })[];
  /** Scale floor: a share of the series' typical magnitude, so flat lines do not divide by zero. */
  private absSum = 0;

  constructor(options: CheapSignalsOptions = {}) {
    this.o = {
      zWindows: options.zWindows ?? [64, 512],
      diffWindows: options.diffWindows ?? [],
      shifts: options.shifts ?? [],
      minPoints: options.minPoints ?? 16,
      cap: options.cap ?? 50,
    };
    const w = (points: number): Window => ({
      points,
      refresh: Math.max(1, Math.floor(points / 32)),
      median: 0,
      sigma: 0,
      at: -1,
    });
    this.zs = this.o.zWindows.map(w);
    this.dz = this.o.diffWindows.map(w);
    this.sh = this.o.shifts.map((s) => ({ ...w(s.reference), recent: s.recent }));
  }

  /** Names of the signals {@link step} returns, in order. */
  get names(): string[] {
    return [
      ...this.o.zWindows.map((p) => `z${p}`),
      ...this.o.diffWindows.map((p) => `dz${p}`),
      ...this.o.shifts.map((s) => `shift${s.recent}/${s.reference}`),
    ];
  }

  /** Consumes a value; returns each signal's raw score (NaN until its window has enough rows). */
  step(value: number): Record<string, number> {
    const i = this.n;
    const d = i > 0 ? value - this.vs[i - 1]! : 0;
    const out: Record<string, number> = {};
    const floor = i > 0 ? 1e-3 * (this.absSum / i) + 1e-9 : 1e-9;
    for (const [k, w] of this.zs.entries()) {
      out[`z${this.o.zWindows[k]}`] = this.judge(w, this.vs, i, i, value, floor);
    }
    for (const [k, w] of this.dz.entries()) {
      out[`dz${this.o.diffWindows[k]}`] = i > 0 ? this.judge(w, this.ds, i, i, d, floor) : Number.NaN;
    }
    this.push(value, d);
    for (const [k, w] of this.sh.entries()) {
      const s = this.o.shifts[k]!;
      const end = this.n - s.recent;
      if (end < this.o.minPoints) {
        out[`shift${s.recent}/${s.reference}`] = Number.NaN;
        continue;
      }
      let sum = 0;
      for (let j = end; j < this.n; j++) sum += this.vs[j]!;
      out[`shift${s.recent}/${s.reference}`] = this.judge(w, this.vs, end, this.n, sum / s.recent, floor);
    }
    this.absSum += Math.abs(value);
    return out;
  }

  /** |x - median| / sigma of `arr[end - points, end)`, the window refreshed every `refresh` rows. */
  private judge(w: Window, arr: Float64Array, end: number, now: number, x: number, floor: number): number {
    if (end < this.o.minPoints) return Number.NaN;
    if (w.at < 0 || now - w.at >= w.refresh) {
      w.at = now;
      const from = Math.max(0, end - w.points);
      const r = robustLocationScale(arr.slice(from, end));
      w.median = r.median;
      w.sigma = r.sigma;
    }
    return Math.min(this.o.cap, Math.abs(x - w.median) / Math.max(w.sigma, floor));
  }

  private push(v: number, d: number): void {
    if (this.n === this.vs.length) {
      const vs = new Float64Array(this.n * 2);
      const ds = new Float64Array(this.n * 2);
      vs.set(this.vs);
      ds.set(this.ds);
      this.vs = vs;
      this.ds = ds;
    }
    this.vs[this.n] = v;
    this.ds[this.n] = d;
    this.n++;
  }
}

/**
 * HTM's "spatial anomaly" on NAB: a value outside every value seen so far, widened by
 * `tolerance` of the seen range on each side, is anomalous whatever the models expect. It catches
 * new highs and lows the moment they happen, which the likelihoods, averaging over 10 rows and
 * judging against their own recent past, report late or not at all.
 */
export class RangeSignal {
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;
  private n = 0;

  constructor(
    private readonly tolerance = 0.03,
    /** Rows seen before any value is judged. */
    private readonly minPoints = 16,
  ) {}

  /** True when `value` lies outside the widened range of the values before it. */
  step(value: number): boolean {
    let outside = false;
    if (this.n >= this.minPoints) {
      const margin = this.tolerance * (this.max - this.min);
      outside = value > this.max + margin || value < this.min - margin;
    }
    this.min = Math.min(this.min, value);
    this.max = Math.max(this.max, value);
    this.n++;
    return outside;
  }
}

/**
 * A forecast's sustained bias: the mean signed residual over the last `points` rows, as a
 * magnitude. A holiday's traffic can stay inside the forecast band at every row while the whole
 * day runs low; point-wise residuals dilute that, their mean over a day shows it.
 */
export class ForecastDrift {
  private readonly residuals: Float64Array;
  private next = 0;
  private count = 0;
  private sum = 0;

  constructor(readonly points = 48) {
    if (!(Number.isInteger(points) && points >= 1)) {
      throw new RangeError(`'points' (${points}) must be a whole number of at least 1`);
    }
    this.residuals = new Float64Array(points);
  }

  /**
   * Takes the newest signed residual (in the forecaster's own units, such as band half-widths)
   * and returns |mean| of the last `points`, or NaN until there are that many. A NaN residual, a
   * row the forecaster did not score, is skipped.
   */
  step(signedResidual: number): number {
    if (!Number.isFinite(signedResidual)) return Number.NaN;
    if (this.count === this.points) this.sum -= this.residuals[this.next]!;
    else this.count++;
    this.residuals[this.next] = signedResidual;
    this.sum += signedResidual;
    this.next = (this.next + 1) % this.points;
    return this.count === this.points ? Math.abs(this.sum / this.points) : Number.NaN;
  }
}
