import { IsolationForest as ReferenceForest } from 'ml-isolation-forest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { plantOutliers, rocAuc, spearman } from '../../bench/planted-outliers.js';
import { averagePathLength, IsolationForest } from '../../ml/isolation-forest.js';
import { createRandom } from '../../ml/random.js';

function topIndices(scores: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: scores.length }, (_, i) => i)
    .sort((a, b) => scores[b]! - scores[a]!)
    .slice(0, k);
}

function plantedIndices(labels: readonly boolean[]): number[] {
  return labels.flatMap((outlier, i) => (outlier ? [i] : []));
}

/** The reference package draws from Math.random; a seeded stand-in makes its forest repeatable. */
function referenceScores(rows: number[][], seed: number): number[] {
  vi.spyOn(Math, 'random').mockImplementation(createRandom(seed));
  const forest = new ReferenceForest({ nEstimators: 100 });
  forest.train(rows);
  const scores = forest.predict(rows);
  vi.restoreAllMocks();
  return scores;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('averagePathLength', () => {
  it('is the expected unsuccessful-search depth c(n) of a binary search tree', () => {
    expect(averagePathLength(0)).toBe(0);
    expect(averagePathLength(1)).toBe(0);
    expect(averagePathLength(2)).toBe(1);
    // c(n) = 2 H(n-1) - 2 (n-1) / n, with the harmonic number summed exactly.
    // ln(n-1) + γ stands in for H(n-1); it is off by about 1 / (2(n-1)), under 0.005 from n = 256.
    for (const n of [256, 1000]) {
      let harmonic = 0;
      for (let i = 1; i < n; i++) harmonic += 1 / i;
      expect(averagePathLength(n)).toBeCloseTo(2 * harmonic - (2 * (n - 1)) / n, 2);
    }
  });
});

describe('IsolationForest', () => {
  // 500 rows of which 10 lie at 6 standard deviations: with 256-row subsamples the forest cannot
  // always tell an outlier from the most extreme inliers, so the bar is the top 4 %, not the top 10.
  for (const dims of [2, 3, 4, 5]) {
    it(`ranks every planted outlier among the top 20 of 500 rows in ${dims} dimensions`, () => {
      const data = plantOutliers({ rows: 500, dims, outliers: 10, radius: 6, seed: 100 + dims });

      const scores = IsolationForest.fit(data.flat, dims, { seed: 7 }).scoreMany(data.flat);

      const top = new Set(topIndices(scores, 20));
      expect(plantedIndices(data.labels).filter((i) => !top.has(i))).toEqual([]);
      expect(rocAuc(scores, data.labels)).toBeGreaterThanOrEqual(0.99);
    });
  }

  it('scores outliers near 1 and the bulk of inliers below 0.5', () => {
    const data = plantOutliers({ rows: 500, dims: 3, outliers: 10, radius: 6, seed: 9 });

    const scores = IsolationForest.fit(data.flat, 3, { seed: 3 }).scoreMany(data.flat);

    const inliers = Array.from(scores)
      .filter((_, i) => !data.labels[i])
      .sort((a, b) => a - b);
    const outliers = Array.from(scores).filter((_, i) => data.labels[i]);
    expect(inliers[Math.floor(inliers.length / 2)]).toBeLessThan(0.5);
    expect(Math.min(...outliers)).toBeGreaterThan(0.6);
    for (const s of scores) expect(s).toBeGreaterThan(0);
    for (const s of scores) expect(s).toBeLessThan(1);
  });

  it('gives identical scores for the same seed and different ones for another seed', () => {
    const data = plantOutliers({ rows: 400, dims: 4, outliers: 4, radius: 6, seed: 5 });

    const first = IsolationForest.fit(data.flat, 4, { seed: 21 }).scoreMany(data.flat);
    const again = IsolationForest.fit(data.flat, 4, { seed: 21 }).scoreMany(data.flat);
    const other = IsolationForest.fit(data.flat, 4, { seed: 22 }).scoreMany(data.flat);

    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it('scores identically after a round trip through JSON text', () => {
    const data = plantOutliers({ rows: 300, dims: 3, outliers: 3, radius: 6, seed: 6 });
    const forest = IsolationForest.fit(data.flat, 3, { trees: 25, sampleSize: 64, seed: 4 });

    const restored = IsolationForest.fromJSON(JSON.parse(JSON.stringify(forest.toJSON())));

    expect(restored.dims).toBe(3);
    expect(restored.sampleSize).toBe(64);
    expect(restored.toJSON()).toEqual(forest.toJSON());
    expect(restored.scoreMany(data.flat)).toEqual(forest.scoreMany(data.flat));
  });

  it('stores each tree as pre-order nodes whose leaves hold every sampled row', () => {
    const data = plantOutliers({ rows: 300, dims: 2, outliers: 3, radius: 6, seed: 8 });

    const { trees, sampleSize } = IsolationForest.fit(data.flat, 2, { trees: 5, sampleSize: 32 }).toJSON();

    expect(trees).toHaveLength(5);
    for (const tree of trees) {
      expect(tree.length % 5).toBe(0);
      let sampled = 0;
      for (let node = 0; node < tree.length / 5; node++) {
        if (tree[node * 5] === -1) sampled += tree[node * 5 + 4]!;
      }
      expect(sampled).toBe(sampleSize);
    }
  });

  it('uses every row when there are fewer rows than the sample size', () => {
    const rows = Float64Array.from({ length: 40 }, (_, i) => i);

    const forest = IsolationForest.fit(rows, 2, { sampleSize: 256 });

    expect(forest.sampleSize).toBe(20);
  });

  it('scores a single row at an offset the same as within scoreMany', () => {
    const data = plantOutliers({ rows: 200, dims: 3, outliers: 2, radius: 6, seed: 10 });
    const forest = IsolationForest.fit(data.flat, 3, { seed: 2 });

    const many = forest.scoreMany(data.flat);

    expect(forest.score(data.flat, 57 * 3)).toBe(many[57]);
    expect(forest.score(data.nested[57]!)).toBe(many[57]);
  });

  describe('argument validation', () => {
    const rows = Float64Array.from({ length: 20 }, (_, i) => i);

    it.each([
      ['dims', () => IsolationForest.fit(rows, 0), "'dims' (0) must be a positive integer"],
      ['dims', () => IsolationForest.fit(rows, 2.5), "'dims' (2.5) must be a positive integer"],
      ['rows', () => IsolationForest.fit(rows, 3), "'rows' length (20) is not a multiple of 'dims' (3)"],
      ['rows', () => IsolationForest.fit(rows.subarray(0, 2), 2), 'at least 2 rows, got 1'],
      ['trees', () => IsolationForest.fit(rows, 2, { trees: 0 }), "'trees' (0) must be a positive integer"],
      [
        'sampleSize',
        () => IsolationForest.fit(rows, 2, { sampleSize: 1 }),
        "'sampleSize' (1) must be an integer of at least 2",
      ],
    ])('rejects a bad %s, naming it and its value', (_name, call, message) => {
      expect(call).toThrow(RangeError);
      expect(call).toThrow(message);
    });

    it('rejects rows of another width at scoring time, naming both widths', () => {
      const forest = IsolationForest.fit(rows, 2);

      expect(() => forest.scoreMany(rows, 4)).toThrow('model has 2 dims, rows have 4');
    });

    it('rejects scoring rows whose length is not a multiple of the model width', () => {
      const forest = IsolationForest.fit(rows, 2);

      expect(() => forest.scoreMany(rows.subarray(0, 7))).toThrow(
        "'rows' length (7) is not a multiple of 'dims' (2)",
      );
    });

    it('rejects a single row shorter than the model width', () => {
      const forest = IsolationForest.fit(rows, 2);

      expect(() => forest.score([1])).toThrow("'row' has 1 values from offset 0; the model needs 2");
    });

    it('rejects serialized models of another kind, naming the kind', () => {
      const wrong = { kind: 'random-cut-forest', dims: 1, sampleSize: 2, trees: [] };

      expect(() => IsolationForest.fromJSON(wrong as never)).toThrow("got kind 'random-cut-forest'");
    });
  });
});

describe('IsolationForest against ml-isolation-forest 0.1.0', () => {
  // The two differ by design (ours subsamples 256 rows per tree, theirs grows every tree on all
  // rows) but estimate the same expected isolation depth, so they must agree on what is anomalous.
  const dims = 4;
  const data = plantOutliers({ rows: 1000, dims, outliers: 10, radius: 6, seed: 31 });
  const ours = IsolationForest.fit(data.flat, dims, { seed: 1 }).scoreMany(data.flat);
  const oursAgain = IsolationForest.fit(data.flat, dims, { seed: 2 }).scoreMany(data.flat);
  const theirs = referenceScores(data.nested, 3);

  it('both rank the planted outliers above nearly every inlier', () => {
    // 0.98: at most 2 % of (outlier, inlier) pairs in the wrong order.
    expect(rocAuc(ours, data.labels)).toBeGreaterThanOrEqual(0.98);
    expect(rocAuc(theirs, data.labels)).toBeGreaterThanOrEqual(0.98);
  });

  it('orders all points about as consistently with the reference as with itself under another seed', () => {
    const withReference = spearman(ours, theirs);
    const withItself = spearman(ours, oursAgain);

    expect(withReference).toBeGreaterThanOrEqual(0.9);
    // Disagreeing with the reference more than tree sampling noise explains would mean a
    // difference in the algorithm, not in the draws.
    expect(withReference).toBeGreaterThan(withItself - 0.05);
  });
});
