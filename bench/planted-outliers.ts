import { createRandom, normal } from '../ml/random.js';

/** Options of {@link plantOutliers}. */
export interface PlantedOutliersInput {
  /** Rows in total, outliers included. */
  readonly rows: number;
  readonly dims: number;
  /** Rows moved far out of the inlier cloud; they sit at indices spread evenly over the data. */
  readonly outliers: number;
  /** Distance of each outlier from the origin, in inlier standard deviations. */
  readonly radius: number;
  readonly seed: number;
}

export interface PlantedOutliers {
  readonly dims: number;
  /** Row-major, `dims` columns: the layout of {@link IsolationForest.fit}. */
  readonly flat: Float64Array;
  /** The same rows as arrays, the layout `ml-isolation-forest` takes. */
  readonly nested: number[][];
  /** One flag per row: true for a planted outlier. */
  readonly labels: boolean[];
}

/**
 * Standard Gaussian inliers with outliers at a fixed radius in random directions. Far enough
 * out (radius 6 or more in up to 6 dims), no inlier of a few thousand lies as far from the
 * centre, so an outlier detector should rank every planted row above every inlier.
 */
export function plantOutliers(input: PlantedOutliersInput): PlantedOutliers {
  const random = createRandom(input.seed);
  const { rows, dims, outliers } = input;
  const flat = new Float64Array(rows * dims);
  for (let i = 0; i < flat.length; i++) flat[i] = normal(random);

  const labels = new Array<boolean>(rows).fill(false);
  const spacing = Math.floor(rows / outliers);
  for (let k = 0; k < outliers; k++) {
    const at = k * spacing + Math.floor(spacing / 2);
    const direction = Array.from({ length: dims }, () => normal(random));
    const norm = Math.hypot(...direction);
    for (let d = 0; d < dims; d++) flat[at * dims + d] = (input.radius * direction[d]!) / norm;
    labels[at] = true;
  }

  const nested = Array.from({ length: rows }, (_, i) => Array.from(flat.subarray(i * dims, (i + 1) * dims)));
  return { dims, flat, nested, labels };
}

/**
 * Area under the ROC curve: the probability that a random positive outscores a random negative,
 * ties counting half (the Mann-Whitney U statistic over both counts).
 */
export function rocAuc(scores: ArrayLike<number>, labels: readonly boolean[]): number {
  const ranks = averageRanks(scores);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i]) continue;
    positives++;
    rankSum += ranks[i]!;
  }
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) {
    throw new RangeError(`ROC AUC needs both classes, got ${positives} positives and ${negatives} negatives`);
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Spearman's rank correlation: Pearson's correlation of the average ranks. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} and ${b.length}`);
  return pearson(averageRanks(a), averageRanks(b));
}

export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let meanA = 0;
  let meanB = 0;
  for (let i = 0; i < n; i++) {
    meanA += a[i]! / n;
    meanB += b[i]! / n;
  }
  let cov = 0;
  let varA = 0;
  let varB = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - meanA;
    const db = b[i]! - meanB;
    cov += da * db;
    varA += da * da;
    varB += db * db;
  }
  return cov / Math.sqrt(varA * varB);
}

/** 1-based ranks, ties sharing the mean of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((i, j) => values[i]! - values[j]!);
  const ranks = new Float64Array(values.length);
  let from = 0;
  while (from < order.length) {
    let to = from;
    while (to + 1 < order.length && values[order[to + 1]!] === values[order[from]!]) to++;
    const rank = (from + to) / 2 + 1;
    for (let k = from; k <= to; k++) ranks[order[k]!] = rank;
    from = to + 1;
  }
  return ranks;
}
