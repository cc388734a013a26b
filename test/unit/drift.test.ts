import { describe, expect, it } from 'vitest';
import {
  binShares,
  driftReference,
  featureDrift,
  featureDriftReference,
  ksTest,
  populationStabilityIndex,
  psiOf,
  quantileEdges,
} from '../../ml/drift.js';
import { createRandom, normal } from '../../ml/random.js';

function sample(seed: number, n: number, mean = 0, sd = 1): Float64Array {
  const random = createRandom(seed);
  return Float64Array.from({ length: n }, () => mean + sd * normal(random));
}

describe('population stability index', () => {
  it('is near zero for two samples of the same distribution', () => {
    expect(psiOf(sample(1, 5000), sample(2, 5000))).toBeLessThan(0.02);
  });

  it('exceeds the retraining level of 0.25 when the mean shifts by one standard deviation', () => {
    expect(psiOf(sample(1, 5000), sample(2, 5000, 1))).toBeGreaterThan(0.25);
  });

  it('grows with the size of the shift', () => {
    const reference = sample(1, 5000);
    const small = psiOf(reference, sample(2, 5000, 0.3));
    const large = psiOf(reference, sample(2, 5000, 0.9));
    expect(large).toBeGreaterThan(small);
  });

  it('stays finite when the recent sample leaves bins empty', () => {
    const psi = populationStabilityIndex([0.5, 0.5], [1, 0]);
    expect(Number.isFinite(psi)).toBe(true);
    expect(psi).toBeGreaterThan(1);
  });

  it('rejects share vectors of different lengths, naming both', () => {
    expect(() => populationStabilityIndex([1], [0.5, 0.5])).toThrow(/'expectedShares' \(1 bins\)/);
  });
});

describe('quantile bins', () => {
  it('put a tenth of the reference in each decile bin', () => {
    const reference = sample(3, 10_000);
    const shares = binShares(reference, quantileEdges(reference, 10));
    expect(shares).toHaveLength(10);
    for (const share of shares) expect(share).toBeCloseTo(0.1, 2);
  });

  it('collapse repeated edges of a mostly constant reference', () => {
    const reference = [...new Array(95).fill(0), 1, 2, 3, 4, 5];
    const edges = quantileEdges(reference, 10);
    expect(new Set(edges).size).toBe(edges.length);
    expect(driftReference(reference).shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
  });

  it('ignore values that are not finite', () => {
    expect(binShares([Number.NaN, 1, 2, Number.POSITIVE_INFINITY], [1.5])).toEqual([0.5, 0.5]);
  });
});

describe('two-sample Kolmogorov-Smirnov test', () => {
  it('does not reject samples from the same distribution', () => {
    const result = ksTest(sample(4, 2000), sample(5, 2000));
    expect(result.statistic).toBeLessThan(0.06);
    expect(result.pValue).toBeGreaterThan(0.05);
  });

  it('rejects a sample whose scale has doubled', () => {
    const result = ksTest(sample(4, 2000), sample(5, 2000, 0, 2));
    expect(result.statistic).toBeGreaterThan(0.1);
    expect(result.pValue).toBeLessThan(1e-6);
  });

  it('reports the largest gap between the distribution functions of disjoint samples as 1', () => {
    expect(ksTest([1, 2, 3], [10, 11, 12]).statistic).toBe(1);
  });
});

describe('featureDrift', () => {
  // Two columns, row-major: a z-score feature and a level feature.
  const names = ['zscore_12', 'mean_12'];
  const matrix = (rows: Float64Array) => ({ names, rows });
  const rows = (seed: number, zShift: number, levelShift: number) => {
    const z = sample(seed, 2000, zShift);
    const level = sample(seed + 1, 2000, levelShift);
    return Float64Array.from({ length: 4000 }, (_, i) => (i % 2 === 0 ? z[i >> 1]! : level[i >> 1]!));
  };
  const reference = featureDriftReference(matrix(rows(1, 0, 0)));

  it('keeps decile edges and training shares of the cycle-free features only', () => {
    expect(Object.keys(reference)).toEqual(['zscore_12']);
    expect(reference.zscore_12!.edges).toHaveLength(9);
    for (const share of reference.zscore_12!.shares) expect(share).toBeCloseTo(0.1, 2);
  });

  it('measures the cycle-free features only, largest drift first', () => {
    const same = featureDrift(reference, matrix(rows(7, 0, 0)), 0);
    expect(same.map((d) => d.feature)).toEqual(['zscore_12']);
    expect(same[0]!.psi).toBeLessThan(0.05);
    // A level that moved is the daily cycle's business; a z-score that moved is drift.
    expect(featureDrift(reference, matrix(rows(7, 0, 3)), 0)[0]!.psi).toBeLessThan(0.05);
    expect(featureDrift(reference, matrix(rows(7, 1, 0)), 0)[0]!.psi).toBeGreaterThan(0.5);
    // Rows before `from` are left out: here the first 1,000 drifted, the last 1,000 did not.
    const mixed = matrix(
      Float64Array.from([...rows(7, 1, 0).subarray(0, 2000), ...rows(8, 0, 0).subarray(2000)]),
    );
    expect(featureDrift(reference, mixed, 0)[0]!.psi).toBeGreaterThan(0.2);
    expect(featureDrift(reference, mixed, 1000)[0]!.psi).toBeLessThan(0.05);
  });
});
