import { createRandom } from './random.js';

/** Options of {@link IsolationForest.fit}. */
export interface IsolationForestOptions {
  /** Trees in the forest. @default 100 (Liu et al. found path lengths converge well before 100) */
  trees?: number;
  /** Rows drawn without replacement for each tree. @default 256 (the original paper's ψ) */
  sampleSize?: number;
  /** Seed of the sampling and split draws, so a version can be rebuilt exactly. @default 1 */
  seed?: number;
}

/** The compact JSON form: one flat array per tree, a few kB per tree whatever the training size. */
export interface SerializedIsolationForest {
  readonly kind: 'isolation-forest';
  readonly dims: number;
  readonly sampleSize: number;
  /** Per tree, nodes in pre-order as [feature, threshold, left, right, size]; feature -1 marks a leaf. */
  readonly trees: number[][];
}

const NODE_WIDTH = 5;

/** Average path length of an unsuccessful search in a binary search tree of n nodes: c(n). */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + 0.5772156649015329) - (2 * (n - 1)) / n;
}

/**
 * Isolation Forest (Liu, Ting & Zhou, 2008) with subsampling: each tree is grown on `sampleSize`
 * rows to depth ceil(log2(sampleSize)), so training costs O(trees · ψ log ψ) and the model holds
 * no copy of the data. Rows are a flat row-major Float64Array of `dims` columns.
 */
export class IsolationForest {
  private constructor(
    readonly dims: number,
    readonly sampleSize: number,
    private readonly trees: Float64Array[],
  ) {}

  static fit(rows: Float64Array, dims: number, options: IsolationForestOptions = {}): IsolationForest {
    const trees = options.trees ?? 100;
    const requestedSample = options.sampleSize ?? 256;
    if (!Number.isInteger(dims) || dims < 1)
      throw new RangeError(`'dims' (${dims}) must be a positive integer`);
    if (rows.length % dims !== 0) {
      throw new RangeError(`'rows' length (${rows.length}) is not a multiple of 'dims' (${dims})`);
    }
    const n = rows.length / dims;
    if (n < 2) throw new RangeError(`isolation forest needs at least 2 rows, got ${n}`);
    if (!Number.isInteger(trees) || trees < 1)
      throw new RangeError(`'trees' (${trees}) must be a positive integer`);
    if (!Number.isInteger(requestedSample) || requestedSample < 2) {
      throw new RangeError(`'sampleSize' (${requestedSample}) must be an integer of at least 2`);
    }

    const sampleSize = Math.min(requestedSample, n);
    const maxDepth = Math.ceil(Math.log2(sampleSize));
    const random = createRandom(options.seed ?? 1);
    const indices = new Uint32Array(n);
    const built: Float64Array[] = [];
    for (let t = 0; t < trees; t++) {
      for (let i = 0; i < n; i++) indices[i] = i;
      // Partial Fisher-Yates: the first sampleSize entries become a uniform sample without replacement.
      for (let i = 0; i < sampleSize; i++) {
        const j = i + Math.floor(random() * (n - i));
        const tmp = indices[i]!;
        indices[i] = indices[j]!;
        indices[j] = tmp;
      }
      const sample = indices.slice(0, sampleSize);
      const nodes: number[] = [];
      growTree(rows, dims, sample, 0, sample.length, 0, maxDepth, random, nodes);
      built.push(Float64Array.from(nodes));
    }
    return new IsolationForest(dims, sampleSize, built);
  }

  static fromJSON(serialized: SerializedIsolationForest): IsolationForest {
    if (serialized.kind !== 'isolation-forest') {
      throw new TypeError(`expected a serialized 'isolation-forest', got kind '${String(serialized.kind)}'`);
    }
    return new IsolationForest(
      serialized.dims,
      serialized.sampleSize,
      serialized.trees.map((tree) => Float64Array.from(tree)),
    );
  }

  toJSON(): SerializedIsolationForest {
    return {
      kind: 'isolation-forest',
      dims: this.dims,
      sampleSize: this.sampleSize,
      trees: this.trees.map((tree) => Array.from(tree)),
    };
  }

  /** Anomaly score s(x) = 2^(-E[h(x)] / c(ψ)): near 1 is anomalous, well below 0.5 is normal. */
  score(row: ArrayLike<number>, offset = 0): number {
    // A short row would read `undefined`, which compares false with every threshold and gives a
    // plausible but meaningless score.
    if (offset + this.dims > row.length) {
      throw new RangeError(
        `'row' has ${row.length - offset} values from offset ${offset}; the model needs ${this.dims}`,
      );
    }
    let total = 0;
    for (const tree of this.trees) total += pathLength(tree, row, offset);
    return 2 ** (-(total / this.trees.length) / averagePathLength(this.sampleSize));
  }

  scoreMany(rows: Float64Array, dims = this.dims): Float64Array {
    if (dims !== this.dims) throw new RangeError(`model has ${this.dims} dims, rows have ${dims}`);
    if (rows.length % dims !== 0) {
      throw new RangeError(`'rows' length (${rows.length}) is not a multiple of 'dims' (${dims})`);
    }
    const n = rows.length / dims;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.score(rows, i * dims);
    return out;
  }
}

function growTree(
  rows: Float64Array,
  dims: number,
  sample: Uint32Array,
  from: number,
  to: number,
  depth: number,
  maxDepth: number,
  random: () => number,
  nodes: number[],
): number {
  const at = nodes.length / NODE_WIDTH;
  const size = to - from;
  if (depth >= maxDepth || size <= 1) {
    nodes.push(-1, 0, -1, -1, size);
    return at;
  }

  // Pick a random feature that still varies in this node; a node where none varies is a leaf.
  const start = Math.floor(random() * dims);
  let feature = -1;
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < dims && feature < 0; k++) {
    const f = (start + k) % dims;
    lo = Number.POSITIVE_INFINITY;
    hi = Number.NEGATIVE_INFINITY;
    for (let i = from; i < to; i++) {
      const v = rows[sample[i]! * dims + f]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (hi > lo) feature = f;
  }
  if (feature < 0) {
    nodes.push(-1, 0, -1, -1, size);
    return at;
  }

  const threshold = lo + random() * (hi - lo);
  let split = from;
  for (let i = from; i < to; i++) {
    if (rows[sample[i]! * dims + feature]! < threshold) {
      const tmp = sample[i]!;
      sample[i] = sample[split]!;
      sample[split] = tmp;
      split++;
    }
  }
  nodes.push(feature, threshold, 0, 0, size);
  const left = growTree(rows, dims, sample, from, split, depth + 1, maxDepth, random, nodes);
  const right = growTree(rows, dims, sample, split, to, depth + 1, maxDepth, random, nodes);
  nodes[at * NODE_WIDTH + 2] = left;
  nodes[at * NODE_WIDTH + 3] = right;
  return at;
}

function pathLength(tree: Float64Array, row: ArrayLike<number>, offset: number): number {
  let node = 0;
  let depth = 0;
  for (;;) {
    const base = node * NODE_WIDTH;
    const feature = tree[base]!;
    if (feature < 0) return depth + averagePathLength(tree[base + 4]!);
    node = row[offset + feature]! < tree[base + 1]! ? tree[base + 2]! : tree[base + 3]!;
    depth++;
  }
}
