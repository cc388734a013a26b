/**
 * Drift between the data a model was trained on and the data it scores now. Pure functions over
 * plain numbers, so the scoring loop can keep a small summary of each and compare them cheaply.
 */

/** Bin edges (ascending, without the open ends) taken from the quantiles of a reference sample. */
export function quantileEdges(reference: ArrayLike<number>, bins = 10): number[] {
  if (!Number.isInteger(bins) || bins < 2)
    throw new RangeError(`'bins' (${bins}) must be an integer of at least 2`);
  const sorted = finiteSorted(reference);
  if (sorted.length === 0) throw new RangeError("'reference' has no finite values");
  const edges: number[] = [];
  for (let b = 1; b < bins; b++) {
    const edge = sorted[Math.min(sorted.length - 1, Math.floor((b / bins) * sorted.length))]!;
    // Repeated quantiles (a mostly constant reference) would make empty bins; keep each edge once.
    if (edges.length === 0 || edge > edges[edges.length - 1]!) edges.push(edge);
  }
  return edges;
}

/** Share of `values` in each bin defined by `edges`: bin i holds edges[i-1] < v <= edges[i]. */
export function binShares(values: ArrayLike<number>, edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v <= edges[mid]!) hi = mid;
      else lo = mid + 1;
    }
    counts[lo]!++;
    total++;
  }
  return counts.map((c) => (total === 0 ? 0 : c / total));
}

/**
 * Population stability index: sum over bins of (actual - expected) * ln(actual / expected).
 * Below 0.1 the populations are the same in practice, 0.1-0.25 moderate shift, above 0.25 a shift
 * worth retraining for. Empty bins are floored at `epsilon` so the index stays finite.
 */
export function populationStabilityIndex(
  expectedShares: readonly number[],
  actualShares: readonly number[],
  epsilon = 1e-4,
): number {
  if (expectedShares.length !== actualShares.length) {
    throw new RangeError(
      `'expectedShares' (${expectedShares.length} bins) and 'actualShares' (${actualShares.length} bins) differ`,
    );
  }
  let psi = 0;
  for (let i = 0; i < expectedShares.length; i++) {
    const e = Math.max(expectedShares[i]!, epsilon);
    const a = Math.max(actualShares[i]!, epsilon);
    psi += (a - e) * Math.log(a / e);
  }
  return psi;
}

/** PSI of `actual` against `reference`, binned at the reference's deciles. */
export function psiOf(reference: ArrayLike<number>, actual: ArrayLike<number>, bins = 10): number {
  const edges = quantileEdges(reference, bins);
  return populationStabilityIndex(binShares(reference, edges), binShares(actual, edges));
}

export interface KsResult {
  /** Largest distance between the two empirical distribution functions, in [0, 1]. */
  readonly statistic: number;
  /** Asymptotic p-value of the two-sample test; small means the samples differ. */
  readonly pValue: number;
}

/** Two-sample Kolmogorov-Smirnov test with the asymptotic (Kolmogorov) distribution. */
export function ksTest(a: ArrayLike<number>, b: ArrayLike<number>): KsResult {
  const x = finiteSorted(a);
  const y = finiteSorted(b);
  if (x.length === 0 || y.length === 0) throw new RangeError('both samples need finite values');
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i]! <= v) i++;
    while (j < y.length && y[j]! <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  const n = (x.length * y.length) / (x.length + y.length);
  const lambda = (Math.sqrt(n) + 0.12 + 0.11 / Math.sqrt(n)) * d;
  return { statistic: d, pValue: kolmogorovSurvival(lambda) };
}

/** Q_KS(λ) = 2 Σ (-1)^(k-1) exp(-2 k² λ²), clamped to [0, 1]. */
function kolmogorovSurvival(lambda: number): number {
  if (lambda < 1e-3) return 1;
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = 2 * (k % 2 === 1 ? 1 : -1) * Math.exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-10) break;
  }
  return Math.min(1, Math.max(0, sum));
}

/** A compact reference of a score distribution, small enough to travel in workflow state. */
export interface DriftReference {
  readonly edges: number[];
  readonly shares: number[];
}

export function driftReference(values: ArrayLike<number>, bins = 10): DriftReference {
  const edges = quantileEdges(values, bins);
  return { edges, shares: binShares(values, edges) };
}

function finiteSorted(values: ArrayLike<number>): Float64Array {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]!)) out.push(values[i]!);
  return Float64Array.from(out).sort();
}

/** A feature matrix as the drift functions need it: row-major rows, `names.length` wide. */
export interface FeatureRows {
  readonly names: readonly string[];
  readonly rows: ArrayLike<number>;
}

/**
 * The training distribution of each cycle-free feature ({@link isCycleFreeFeature}), by name,
 * kept in a model so that the data it scores later can be compared with what it learned from:
 * decile edges and the training shares in the bins they make (not all a tenth where values repeat).
 */
export type FeatureDriftReference = Readonly<Record<string, DriftReference>>;

/**
 * Features whose distribution does not follow the daily cycle: z-scores of the value against its
 * own trailing windows. Levels, means and quantiles do follow it, and a drift window shorter than
 * a day (the default is a few hours) would always find them far from a training set of whole days.
 */
export function isCycleFreeFeature(name: string): boolean {
  return /^(zscore|robust_z)_\d+$/.test(name);
}

/** Column `d` of row-major `rows` (`dims` wide) from row `from` on. */
function column(rows: ArrayLike<number>, dims: number, d: number, from: number): Float64Array {
  const count = Math.floor(rows.length / dims) - from;
  const out = new Float64Array(Math.max(0, count));
  for (let i = 0; i < out.length; i++) out[i] = rows[(from + i) * dims + d]!;
  return out;
}

/** Builds the reference from training feature rows (warm-up already dropped). */
export function featureDriftReference(training: FeatureRows): FeatureDriftReference {
  const reference: Record<string, DriftReference> = {};
  for (const [d, name] of training.names.entries()) {
    if (!isCycleFreeFeature(name)) continue;
    const values = column(training.rows, training.names.length, d, 0);
    if (values.some(Number.isFinite)) reference[name] = driftReference(values);
  }
  return reference;
}

export interface FeatureDrift {
  readonly feature: string;
  readonly psi: number;
}

/**
 * PSI of each feature the reference holds, over the rows of `scored` from row `from` on, largest
 * first. Features whose training values were all equal have one bin and no drift to measure.
 */
export function featureDrift(
  reference: FeatureDriftReference,
  scored: FeatureRows,
  from: number,
): FeatureDrift[] {
  const out: FeatureDrift[] = [];
  for (const [d, name] of scored.names.entries()) {
    const expected = reference[name];
    if (!expected || expected.edges.length === 0) continue;
    const actual = binShares(column(scored.rows, scored.names.length, d, from), expected.edges);
    out.push({ feature: name, psi: populationStabilityIndex(expected.shares, actual) });
  }
  return out.sort((a, b) => b.psi - a.psi);
}
