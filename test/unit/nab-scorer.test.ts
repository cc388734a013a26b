import { describe, expect, it } from 'vitest';
import {
  type CostMatrix,
  NAB_NO_DETECTION_THRESHOLD,
  type NabFileInput,
  nabProbationaryPoints,
  normaliseNabScore,
  type PreparedNabFile,
  prepareNabFile,
  scaledSigmoid,
  scoreFileAtThreshold,
  scoreNabCorpus,
  scoresByThreshold,
} from '../../ml/evaluation/nab-scorer.js';

// The cases below are NAB's own (tests/unit/scorer_test.py, tests/integration/scorer_test.py,
// true_positive_test.py, false_positive_test.py, false_negative_test.py, sweeper_test.py), with
// their expected values; the constants are NAB's scaledSigmoid values as written in those tests.
const SIGMOID_AT_MINUS_ONE = 0.9866142981514305;
const SIGMOID_AT_MINUS_HALF = 0.8482836399575131;

const STEP_MS = 5 * 60_000;
const START_MS = Date.UTC(2016, 6, 5, 10);

function timestamps(n: number): number[] {
  return Array.from({ length: n }, (_, i) => START_MS + i * STEP_MS);
}

/** NAB's `test_helpers.generateWindows`: windows of `size` rows spread evenly over the file. */
function generateWindows(ts: readonly number[], count: number, size: number): [number, number][] {
  const gap = pythonRound((ts.length - count * size) / (count + 1));
  const windows: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const first = gap * (i + 1) + size * i;
    windows.push([ts[first]!, ts[first + size - 1]!]);
  }
  return windows;
}

/** Python 3 rounds halves to even; generateWindows relies on it. */
function pythonRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function scoreAt(
  ts: readonly number[],
  scores: readonly number[],
  windows: [number, number][],
  cost: CostMatrix,
  options: { threshold?: number; probationaryPoints?: number } = {},
) {
  const file = prepareNabFile({
    name: 'testData',
    timestampsMs: ts,
    scores,
    windows,
    probationaryPoints: options.probationaryPoints ?? 0,
  });
  return scoreFileAtThreshold(file, cost, options.threshold ?? 0.5);
}

function windowsAtRows(ts: readonly number[], ...ranges: [number, number][]): [number, number][] {
  return ranges.map(([a, b]) => [ts[a]!, ts[b]!]);
}

describe('scaledSigmoid', () => {
  it('weighs the first row of a window most, the last nothing, and rows far after it -1', () => {
    expect(scaledSigmoid(-1)).toBeCloseTo(SIGMOID_AT_MINUS_ONE, 12);
    expect(scaledSigmoid(-0.5)).toBeCloseTo(SIGMOID_AT_MINUS_HALF, 12);
    expect(scaledSigmoid(0)).toBeCloseTo(0, 12);
    expect(scaledSigmoid(1)).toBeCloseTo(-SIGMOID_AT_MINUS_ONE, 12);
    expect(scaledSigmoid(3.01)).toBe(-1);
  });
});

describe('nabProbationaryPoints', () => {
  it.each([
    [100, 0, 0],
    [100, 1, 100],
    [100, 0.1, 10],
    [100, 0.15, 15],
    [5000, 0.1, 500],
    [6000, 0.1, 500],
  ])(
    'gives %i rows at %f a probation of %i rows, capped at the share of 5,000',
    (rows, percent, expected) => {
      expect(nabProbationaryPoints(rows, percent)).toBe(expected);
    },
  );

  it('caps the default 15% at 750 rows', () => {
    expect(nabProbationaryPoints(4032)).toBe(604);
    expect(nabProbationaryPoints(22695)).toBe(750);
  });
});

describe('one file at a fixed threshold (NAB unit scorer cases)', () => {
  const cost = { tpWeight: 1.1, fpWeight: 0.11, fnWeight: 1.2 };

  it('scores zero without windows or detections', () => {
    expect(scoreAt(timestamps(5), [0, 0, 0, 0, 0], [], cost).score).toBeCloseTo(0, 10);
  });

  it('costs each false positive before any window the full false-positive weight', () => {
    expect(scoreAt(timestamps(5), [0, 1, 0, 1, 0], [], cost).score).toBeCloseTo(-2 * cost.fpWeight, 10);
  });

  it('costs each missed window the false-negative weight', () => {
    const ts = timestamps(7);
    const windows = windowsAtRows(ts, [1, 2], [4, 5]);
    expect(scoreAt(ts, [0, 0, 0, 0, 0, 0, 0], windows, cost).score).toBeCloseTo(-2 * cost.fnWeight, 10);
  });

  it('ignores detections in the probationary period', () => {
    const ts = timestamps(5);
    expect(scoreAt(ts, [0, 1, 0, 1, 0], [], cost, { probationaryPoints: 4 }).score).toBeCloseTo(0, 10);
    expect(scoreAt(ts, [0, 1, 0, 1, 0], [], cost, { probationaryPoints: 3 }).score).toBeCloseTo(
      -cost.fpWeight,
      10,
    );
  });

  it('weighs a detection at the end of a two-row window by the sigmoid at -0.5', () => {
    const ts = timestamps(7);
    const expected = (SIGMOID_AT_MINUS_HALF * cost.tpWeight) / SIGMOID_AT_MINUS_ONE;
    expect(scoreAt(ts, [0, 0, 1, 0, 0, 0, 0], windowsAtRows(ts, [1, 2]), cost).score).toBeCloseTo(
      expected,
      10,
    );
    expect(scoreAt(ts, [0, 0, 1, 0, 0, 0, 0], windowsAtRows(ts, [1, 2], [4, 5]), cost).score).toBeCloseTo(
      expected - cost.fnWeight,
      10,
    );
  });

  it('gives a detection at the first row of a window the whole true-positive weight, once', () => {
    const ts = timestamps(7);
    const windows = windowsAtRows(ts, [4, 5]);
    expect(scoreAt(ts, [0, 0, 0, 0, 1, 0, 0], windows, cost).score).toBeCloseTo(cost.tpWeight, 10);
    expect(scoreAt(ts, [0, 0, 0, 0, 1, 1, 0], windows, cost).score).toBeCloseTo(cost.tpWeight, 10);
  });

  it('adds up the true positives of several windows', () => {
    const ts = timestamps(7);
    const windows = windowsAtRows(ts, [1, 2], [4, 5]);
    const expected = (SIGMOID_AT_MINUS_HALF * cost.tpWeight) / SIGMOID_AT_MINUS_ONE + cost.tpWeight;
    expect(scoreAt(ts, [0, 0, 1, 0, 1, 0, 0], windows, cost).score).toBeCloseTo(expected, 10);
  });

  it('discounts a false positive by its distance after the preceding window', () => {
    const ts = timestamps(5);
    const windows = windowsAtRows(ts, [1, 2]);
    expect(scoreAt(ts, [0, 0, 0, 0, 1], windows, cost).score).toBeCloseTo(
      -cost.fnWeight - 0.9999092042625951 * cost.fpWeight,
      10,
    );
    expect(scoreAt(ts, [0, 0, 0, 1, 0], windows, cost).score).toBeCloseTo(
      -cost.fnWeight - 0.9866142981514303 * cost.fpWeight,
      10,
    );
  });
});

describe('one file at a fixed threshold (NAB integration cases)', () => {
  const unit = { tpWeight: 1, fpWeight: 1, fnWeight: 1 };

  it('scores a file without windows or detections zero, all rows true negatives', () => {
    const result = scoreAt(timestamps(10), new Array(10).fill(0), [], unit);
    expect(result.score).toBe(0);
    expect(result).toMatchObject({ tn: 10, tp: 0, fp: 0, fn: 0 });
  });

  it('doubles the cost of a missed window when the false-negative weight doubles', () => {
    const ts = timestamps(100);
    const windows = generateWindows(ts, 1, 10);
    const zeros = new Array(100).fill(0);
    const standard = scoreAt(ts, zeros, windows, unit);
    const lowFn = scoreAt(ts, zeros, windows, { tpWeight: 1, fpWeight: 0.055, fnWeight: 2 });
    expect(standard.score).toBeCloseTo(0.5 * lowFn.score, 12);
    expect(standard).toMatchObject({ tn: 90, tp: 0, fp: 0, fn: 10 });
  });

  it('doubles the cost of a false positive when the false-positive weight doubles', () => {
    const ts = timestamps(100);
    const scores = new Array(100).fill(0);
    scores[0] = 1;
    const standard = scoreAt(ts, scores, [], unit);
    const lowFp = scoreAt(ts, scores, [], { tpWeight: 1, fpWeight: 2, fnWeight: 0.5 });
    expect(standard.score).toBeCloseTo(0.5 * lowFp.score, 12);
    expect(standard).toMatchObject({ tn: 99, tp: 0, fp: 1, fn: 0 });
  });

  it('scores a true positive, a second detection in the same window and a false positive to -0.9540', () => {
    const ts = timestamps(100);
    const windows = generateWindows(ts, 2, 5);
    const first = ts.indexOf(windows[0]![0]);
    const scores = new Array(100).fill(0);
    scores[first] = 1;
    scores[first + 1] = 1;
    scores[first + 7] = 1;
    const result = scoreAt(ts, scores, windows, unit);
    expect(result.score).toBeCloseTo(-0.954, 4);
    expect(result).toMatchObject({ tn: 89, tp: 2, fp: 1, fn: 8 });
  });

  it('balances random detections around minus half a window when FPs weigh the window share', () => {
    const ts = timestamps(100);
    const windows = generateWindows(ts, 1, 10);
    const random = seededRandom(7);
    const results: number[] = [];
    for (let run = 0; run < 20; run++) {
      const scores = new Array(100).fill(0);
      let placed = 0;
      while (placed < 10) {
        const i = Math.floor(random() * 100);
        if (scores[i] === 0) {
          scores[i] = 1;
          placed++;
        }
      }
      results.push(scoreAt(ts, scores, windows, { ...unit, fpWeight: 0.11 }).score);
    }
    const average = results.reduce((a, b) => a + b, 0) / results.length;
    expect(average).toBeGreaterThanOrEqual(-1.5);
    expect(average).toBeLessThanOrEqual(0.5);
  });

  it('gives the first row of a window exactly the true-positive weight', () => {
    const ts = timestamps(10);
    const windows = generateWindows(ts, 1, 2);
    const scores = new Array(10).fill(0);
    scores[ts.indexOf(windows[0]![0])] = 1;
    const result = scoreAt(ts, scores, windows, unit);
    expect(result.score).toBeCloseTo(unit.tpWeight, 12);
    expect(result).toMatchObject({ tn: 8, tp: 1, fp: 0, fn: 1 });
  });

  it('rewards an earlier true positive more than a later one', () => {
    const ts = timestamps(10);
    const windows = generateWindows(ts, 1, 2);
    const early = new Array(10).fill(0);
    early[ts.indexOf(windows[0]![0])] = 1;
    const late = new Array(10).fill(0);
    late[ts.indexOf(windows[0]![1])] = 1;
    expect(scoreAt(ts, early, windows, unit).score).toBeGreaterThan(scoreAt(ts, late, windows, unit).score);
  });

  it('counts only the first true positive of a window in the score, every one in the counts', () => {
    const ts = timestamps(10);
    const windows = generateWindows(ts, 1, 2);
    const once = new Array(10).fill(0);
    once[ts.indexOf(windows[0]![0])] = 1;
    const twice = [...once];
    twice[ts.indexOf(windows[0]![1])] = 1;
    const a = scoreAt(ts, once, windows, unit);
    const b = scoreAt(ts, twice, windows, unit);
    expect(b.score).toBe(a.score);
    expect(a).toMatchObject({ tp: 1, fn: 1 });
    expect(b).toMatchObject({ tp: 2, fn: 0 });
  });

  it('scores a detection at the left edge alike whatever the window width', () => {
    const ts = timestamps(10);
    const scoreWithWidth = (size: number) => {
      const windows = generateWindows(ts, 1, size);
      const scores = new Array(10).fill(0);
      scores[ts.indexOf(windows[0]![0])] = 1;
      return scoreAt(ts, scores, windows, unit).score;
    };
    expect(scoreWithWidth(2)).toBeCloseTo(scoreWithWidth(3), 12);
  });

  it('crosses zero between the last row of a window and the row after it', () => {
    const ts = timestamps(1000);
    const windows = generateWindows(ts, 1, 100);
    const last = ts.indexOf(windows[0]![1]);
    const atEdge = new Array(1000).fill(0);
    atEdge[last] = 1;
    const after = new Array(1000).fill(0);
    after[last + 1] = 1;
    const tp = scoreAt(ts, atEdge, windows, unit);
    const fp = scoreAt(ts, after, windows, unit);
    expect(tp.score + fp.score + 1).toBeCloseTo(0, 3);
    expect(fp).toMatchObject({ tn: 899, tp: 0, fp: 1, fn: 100 });
  });

  it('makes the score negative with a false positive, and more so with two', () => {
    const ts = timestamps(1000);
    const windows = generateWindows(ts, 1, 10);
    const one = new Array(1000).fill(0);
    one[0] = 1;
    const two = [...one];
    two[1] = 1;
    const a = scoreAt(ts, one, windows, unit);
    const b = scoreAt(ts, two, windows, unit);
    expect(a.score).toBeLessThan(0);
    expect(b.score).toBeLessThan(a.score);
    expect(a).toMatchObject({ tn: 989, tp: 0, fp: 1, fn: 10 });
    expect(b).toMatchObject({ tn: 988, tp: 0, fp: 2, fn: 10 });
  });

  it('costs a false positive in a file without windows exactly the false-positive weight', () => {
    const ts = timestamps(1000);
    const scores = new Array(1000).fill(0);
    scores[0] = 1;
    expect(scoreAt(ts, scores, [], unit).score).toBe(-unit.fpWeight);
  });

  it('costs a false positive just after a window less than one further away', () => {
    const ts = timestamps(10);
    const windows = generateWindows(ts, 1, 2);
    const next = ts.indexOf(windows[0]![1]) + 1;
    const near = new Array(10).fill(0);
    near[next] = 1;
    const far = new Array(10).fill(0);
    far[next + 1] = 1;
    expect(scoreAt(ts, near, windows, unit).score).toBeGreaterThan(scoreAt(ts, far, windows, unit).score);
  });

  it('costs one and four missed windows one and four false-negative weights', () => {
    const ts1 = timestamps(1000);
    expect(
      scoreAt(ts1, new Array(1000).fill(0), generateWindows(ts1, 1, 10), unit, { threshold: 1 }).score,
    ).toBe(-1);
    const ts4 = timestamps(2000);
    const four = scoreAt(ts4, new Array(2000).fill(0), generateWindows(ts4, 4, 10), unit, { threshold: 1 });
    expect(four.score).toBe(-4);
    expect(four).toMatchObject({ tn: 1960, tp: 0, fp: 0, fn: 40 });
  });
});

describe('the threshold sweep', () => {
  it('marks probationary rows apart and weighs window rows positive, all others negative', () => {
    const ts = Array.from({ length: 100 }, (_, i) => i);
    const file = prepareNabFile({
      name: 'TestDataSet',
      timestampsMs: ts,
      scores: new Array(100).fill(1),
      windows: [
        [30, 39],
        [75, 95],
      ],
      probationaryPoints: nabProbationaryPoints(100, 0.1),
    });
    const probationary = [...file.rowWindow].filter((w) => w === -2).length;
    const inWindow = [...file.rowWindow].filter((w) => w >= 0).length;
    expect(probationary).toBe(10);
    expect(inWindow).toBe(10 + 21);
    for (let i = file.probationaryPoints; i < 100; i++) {
      if (file.rowWindow[i]! >= 0) expect(file.rowWeight[i]).toBeGreaterThan(0);
      else expect(file.rowWeight[i]).toBeLessThan(0);
    }
  });

  it('reproduces the scores and counts of every threshold in NAB sweeper test', () => {
    // Rows: two probationary, an undetectable false positive, two rows of window A, one of window B
    // and a false positive; weights are the sweep scores of NAB's test, applied with unit weights.
    const file: PreparedNabFile = {
      name: 'fake',
      rows: 7,
      scores: Float64Array.from([0.5, 0.5, 0.0, 0.2, 0.3, 0.5, 0.5]),
      rowWindow: Int32Array.from([-2, -2, -1, 0, 0, 1, -1]),
      rowWeight: Float64Array.from([-1000, -1000, -3, 20, 10, 5, -3]),
      windowRows: [
        [3, 4],
        [5, 5],
      ],
      scoredWindows: 2,
      probationaryPoints: 2,
    };
    const rows = scoresByThreshold([file], { tpWeight: 1, fpWeight: 1, fnWeight: 5 });
    expect(rows.map((r) => [r.threshold, r.tp, r.tn, r.fp, r.fn])).toEqual([
      [NAB_NO_DETECTION_THRESHOLD, 0, 2, 0, 3],
      [0.5, 1, 1, 1, 2],
      [0.3, 2, 1, 1, 1],
      [0.2, 3, 1, 1, 0],
      [0.0, 3, 0, 2, 0],
    ]);
    const expected = [-2 * 5, 5 - 3 - 5, 5 - 3 + 10, 5 - 3 + 20, 5 - 3 + 20 - 3];
    for (const [k, r] of rows.entries()) expect(r.score).toBeCloseTo(expected[k]!, 12);
  });

  it('agrees with scoring each file at each threshold one by one', () => {
    const random = seededRandom(11);
    const files: NabFileInput[] = [0, 1, 2].map((f) => {
      const n = 300 + f * 50;
      const ts = timestamps(n);
      const scores = Array.from({ length: n }, () => Math.round(random() * 40) / 40);
      return {
        name: `f${f}`,
        timestampsMs: ts,
        scores,
        windows: f === 2 ? [] : generateWindows(ts, f + 1, 20),
      };
    });
    const cost = { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 };
    const prepared = files.map(prepareNabFile);
    for (const row of scoresByThreshold(prepared, cost)) {
      const oneByOne = prepared.map((p) => scoreFileAtThreshold(p, cost, row.threshold));
      expect(oneByOne.reduce((s, r) => s + r.score, 0)).toBeCloseTo(row.score, 9);
      expect(oneByOne.reduce((s, r) => s + r.fp, 0)).toBe(row.fp);
      expect(oneByOne.reduce((s, r) => s + r.tp, 0)).toBe(row.tp);
    }
  });
});

describe('scoreNabCorpus', () => {
  // File a: 100 rows, probation 15 rows, one window over rows 50..59. The detector scores 1.0 in
  // the probationary period (ignored), 0.9 at row 55 (mid-window) and 0.7 at row 80 (a false
  // positive 21 rows after the window). File b: no window, 0.8 at row 30 (a false positive before
  // any window, costing the full weight). Best threshold: 0.9, raw score sigmoid(-0.5)/sigmoid(-1).
  const ts = timestamps(100);
  const a = new Array(100).fill(0);
  a[5] = 1;
  a[55] = 0.9;
  a[80] = 0.7;
  const b = new Array(100).fill(0);
  b[30] = 0.8;
  const corpus: NabFileInput[] = [
    { name: 'cat/a.csv', timestampsMs: ts, scores: a, windows: windowsAtRows(ts, [50, 59]) },
    { name: 'cat/b.csv', timestampsMs: ts, scores: b, windows: [] },
  ];
  const midWindow = SIGMOID_AT_MINUS_HALF / SIGMOID_AT_MINUS_ONE;

  it('normalises so that the null detector scores 0 and a perfect one 100', () => {
    const result = scoreNabCorpus(corpus);
    const standard = result.profiles.standard!;
    expect(standard.threshold).toBe(0.9);
    expect(standard.rawScore).toBeCloseTo(midWindow, 12);
    expect(standard.nullScore).toBeCloseTo(-1, 12);
    expect(standard.perfectScore).toBe(1);
    expect(standard.normalisedScore).toBeCloseTo((100 * (midWindow + 1)) / 2, 9);
    const lowFn = result.profiles.reward_low_FN_rate!;
    expect(lowFn.nullScore).toBeCloseTo(-2, 12);
    expect(lowFn.normalisedScore).toBeCloseTo((100 * (midWindow + 2)) / 3, 9);
  });

  it('reports each file at the corpus threshold', () => {
    const standard = scoreNabCorpus(corpus).profiles.standard!;
    expect(standard.files).toEqual([
      expect.objectContaining({ name: 'cat/a.csv', tp: 1, fp: 0, fn: 9, windows: 1, detectedWindows: 1 }),
      expect.objectContaining({ name: 'cat/b.csv', tp: 0, fp: 0, fn: 0, tn: 85, windows: 0 }),
    ]);
  });

  it('picks a lower threshold once false positives cost less than the window they buy', () => {
    // With the false positive in b above the true positive, the best threshold must include it.
    const bHigh = [...b];
    bHigh[30] = 0.95;
    const result = scoreNabCorpus([corpus[0]!, { ...corpus[1]!, scores: bHigh }]);
    const standard = result.profiles.standard!;
    expect(standard.threshold).toBe(0.9);
    expect(standard.rawScore).toBeCloseTo(midWindow - 0.11, 12);
    expect(normaliseNabScore(standard.rawScore, -1, 1)).toBeCloseTo(standard.normalisedScore, 12);
  });

  it('rejects scores outside [0, 1] naming the file and row', () => {
    expect(() =>
      scoreNabCorpus([{ name: 'x.csv', timestampsMs: [1, 2], scores: [0, Number.NaN], windows: [] }]),
    ).toThrow("file 'x.csv': scores[1] (NaN) is not in [0, 1]");
  });
});

/** A small deterministic generator (mulberry32) so random cases are the same on every run. */
function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
