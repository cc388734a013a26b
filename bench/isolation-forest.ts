/**
 * Our Isolation Forest (ml/isolation-forest.ts) against the `ml-isolation-forest` package, side by
 * side in one process on the same planted-outlier data: fit time, score time, model size, ROC AUC.
 *
 *   node --expose-gc --import tsx bench/isolation-forest.ts [--rows 2000,20000] [--dims 6] [--trees 100] [--repeats 3]
 *
 * Prints a table with ratios (ours / reference) and writes bench/results/iforest.json. Without
 * --expose-gc the retained-heap column is left empty.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { IsolationForest as ReferenceForest } from 'ml-isolation-forest';
import { IsolationForest } from '../ml/isolation-forest.js';
import { createRandom } from '../ml/random.js';
import { type PlantedOutliers, plantOutliers, rocAuc } from './planted-outliers.js';

/** One implementation on one data size. */
export interface ImplementationFigures {
  /** Median over the repeats. */
  readonly fitMs: number;
  /** Median over the repeats, scoring every row, per 1,000 rows. */
  readonly scoreMsPer1000Rows: number;
  /** UTF-8 length of the model's JSON; null when it is too large for one string. */
  readonly modelJsonBytes: number | null;
  /**
   * Heap and array buffers still held after a full GC, beyond what the training data already
   * held; null without --expose-gc.
   */
  readonly retainedHeapBytes: number | null;
  readonly rocAuc: number;
}

export interface IsolationForestBenchRow {
  readonly rows: number;
  readonly dims: number;
  readonly trees: number;
  readonly outliers: number;
  readonly ours: ImplementationFigures;
  readonly reference: ImplementationFigures;
}

const gc = (globalThis as { gc?: () => void }).gc;

interface Implementation {
  fit(data: PlantedOutliers, trees: number, seed: number): unknown;
  score(model: unknown, data: PlantedOutliers): ArrayLike<number>;
  json(model: unknown): string;
}

const OURS: Implementation = {
  fit: (data, trees, seed) => IsolationForest.fit(data.flat, data.dims, { trees, seed }),
  score: (model, data) => (model as IsolationForest).scoreMany(data.flat),
  json: (model) => JSON.stringify((model as IsolationForest).toJSON()),
};

const REFERENCE: Implementation = {
  fit(data, trees, seed) {
    // The package draws from Math.random; a seeded stand-in makes its runs repeatable too.
    const original = Math.random;
    Math.random = createRandom(seed);
    try {
      const forest = new ReferenceForest({ nEstimators: trees });
      forest.train(data.nested);
      return forest;
    } finally {
      Math.random = original;
    }
  },
  score: (model, data) => (model as ReferenceForest).predict(data.nested),
  // It has no save/load; its own fields (trees with their leaf rows, and the training set) are plain JSON.
  json: (model) => JSON.stringify(model),
};

function measure(
  impl: Implementation,
  data: PlantedOutliers,
  trees: number,
  repeats: number,
): ImplementationFigures {
  const fitMs: number[] = [];
  const scoreMs: number[] = [];
  let model: unknown;
  let scores: ArrayLike<number> = [];
  // Round 0 warms the JIT up and is not timed.
  for (let r = 0; r <= repeats; r++) {
    let started = performance.now();
    model = impl.fit(data, trees, r + 1);
    const fitted = performance.now() - started;

    started = performance.now();
    scores = impl.score(model, data);
    const scored = performance.now() - started;
    if (r === 0) continue;
    fitMs.push(fitted);
    scoreMs.push(scored);
  }
  const rows = data.labels.length;
  return {
    fitMs: median(fitMs),
    scoreMsPer1000Rows: (median(scoreMs) * 1000) / rows,
    modelJsonBytes: jsonBytes(impl, model),
    retainedHeapBytes: retainedHeap(() => impl.fit(data, trees, 1)),
    rocAuc: rocAuc(scores, data.labels),
  };
}

/** Mean over `copies` models kept alive together, which smooths out what one GC happens to leave behind. */
function retainedHeap(build: () => unknown, copies = 3): number | null {
  if (!gc) return null;
  // Typed arrays keep their contents outside the JS heap, in `arrayBuffers`.
  const used = () => {
    gc();
    gc();
    const memory = process.memoryUsage();
    return memory.heapUsed + memory.arrayBuffers;
  };
  const before = used();
  const models = Array.from({ length: copies }, build);
  const after = used();
  // Keeps the models reachable until the second measurement.
  if (models.length !== copies) throw new Error('a model was not built');
  return Math.max(0, (after - before) / copies);
}

function jsonBytes(impl: Implementation, model: unknown): number | null {
  try {
    return Buffer.byteLength(impl.json(model));
  } catch (err) {
    // V8 caps a string at about 512 MB; a model that needs more has no usable JSON form either.
    if (err instanceof RangeError) return null;
    throw err;
  }
}

export function runIsolationForestBench(options: {
  rows: number[];
  dims: number;
  trees: number;
  repeats: number;
}): IsolationForestBenchRow[] {
  const results: IsolationForestBenchRow[] = [];
  for (const rows of options.rows) {
    // Half a percent of the rows, at six inlier standard deviations from the centre.
    const outliers = Math.max(5, Math.round(rows * 0.005));
    const data = plantOutliers({ rows, dims: options.dims, outliers, radius: 6, seed: 42 });
    const ours = measure(OURS, data, options.trees, options.repeats);
    const reference = measure(REFERENCE, data, options.trees, options.repeats);
    results.push({ rows, dims: options.dims, trees: options.trees, outliers, ours, reference });
  }
  return results;
}

function printTable(results: IsolationForestBenchRow[]): void {
  const lines = [
    '| rows × dims | metric | ours | ml-isolation-forest | ours / reference |',
    '|---|---|---:|---:|---:|',
  ];
  for (const r of results) {
    const label = `${r.rows.toLocaleString('en-US')} × ${r.dims}`;
    const line = (
      metric: string,
      ours: number | null,
      theirs: number | null,
      format: (v: number) => string,
    ) =>
      lines.push(
        `| ${label} | ${metric} | ${ours === null ? '–' : format(ours)} | ${theirs === null ? '–' : format(theirs)} | ${
          ours === null || theirs === null ? '–' : (ours / theirs).toFixed(3)
        } |`,
      );
    line('fit (ms)', r.ours.fitMs, r.reference.fitMs, (v) => v.toFixed(0));
    line('score (ms / 1,000 rows)', r.ours.scoreMsPer1000Rows, r.reference.scoreMsPer1000Rows, (v) =>
      v.toFixed(2),
    );
    line('model JSON (kB)', r.ours.modelJsonBytes, r.reference.modelJsonBytes, (v) => (v / 1024).toFixed(0));
    line('retained heap (kB)', r.ours.retainedHeapBytes, r.reference.retainedHeapBytes, (v) =>
      (v / 1024).toFixed(0),
    );
    line(`ROC AUC (${r.outliers} planted)`, r.ours.rocAuc, r.reference.rocAuc, (v) => v.toFixed(4));
  }
  console.log(lines.join('\n'));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function positiveIntegers(flag: string, text: string): number[] {
  const values = text.split(',').map(Number);
  for (const v of values) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`'${flag}' (${text}) must be positive integers`);
  }
  return values;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '2000,20000' },
      dims: { type: 'string', default: '6' },
      trees: { type: 'string', default: '100' },
      repeats: { type: 'string', default: '3' },
    },
  });
  if (!gc) console.error('run with node --expose-gc to measure retained heap');
  const options = {
    rows: positiveIntegers('--rows', values.rows),
    dims: positiveIntegers('--dims', values.dims)[0]!,
    trees: positiveIntegers('--trees', values.trees)[0]!,
    repeats: positiveIntegers('--repeats', values.repeats)[0]!,
  };

  const started = performance.now();
  const results = runIsolationForestBench(options);
  printTable(results);

  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'iforest.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(
    out,
    `${JSON.stringify(
      {
        node: process.version,
        measuredAt: new Date().toISOString(),
        seconds: Math.round((performance.now() - started) / 100) / 10,
        results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nresults: ${out}`);
}

await main();
