/**
 * The Numenta Anomaly Benchmark score, computed the way NAB 1.1 computes it (`nab/sweeper.py`,
 * `nab/optimizer.py`, `nab/scorer.py`, `nab/runner.py#normalize`), so figures measured here can be
 * set beside the published scoreboard.
 *
 * In short: every row after the probationary period gets a weight. Inside a labelled window the
 * weight is a scaled sigmoid of the row's position (the window's first row is worth `tpWeight`, the
 * last almost nothing) and only the best (earliest) detected row of a window counts; a window with
 * no detection costs `fnWeight`. Outside windows every detected row costs `fpWeight`, discounted
 * when it lies just after the preceding window. One threshold on the anomaly score is chosen for the
 * whole corpus, the one that maximises the profile's total; scores are then normalised so that the
 * null detector scores 0 and a perfect detector 100.
 */

export interface CostMatrix {
  readonly tpWeight: number;
  readonly fpWeight: number;
  readonly fnWeight: number;
}

export type NabProfileName = 'standard' | 'reward_low_FP_rate' | 'reward_low_FN_rate';

/** NAB's `config/profiles.json`. */
export const NAB_PROFILES: Readonly<Record<NabProfileName, CostMatrix>> = Object.freeze({
  standard: { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 },
  reward_low_FP_rate: { tpWeight: 1, fpWeight: 0.22, fnWeight: 1 },
  reward_low_FN_rate: { tpWeight: 1, fpWeight: 0.11, fnWeight: 2 },
});

export const NAB_PROFILE_NAMES: readonly NabProfileName[] = [
  'standard',
  'reward_low_FP_rate',
  'reward_low_FN_rate',
];

/** NAB's default share of each file that is learnt from but not scored. */
export const NAB_PROBATIONARY_PERCENT = 0.15;

/**
 * The threshold NAB starts its sweep at: above every score in [0, 1], so nothing is detected.
 * The null detector's best threshold is this one.
 */
export const NAB_NO_DETECTION_THRESHOLD = 1.1;

/** One data file: its rows in time order, the detector's score per row, and its labelled windows. */
export interface NabFileInput {
  /** Relative path such as `realKnownCause/nyc_taxi.csv`; names the file in results. */
  readonly name: string;
  readonly timestampsMs: ArrayLike<number>;
  /** The detector's anomaly score per row, in [0, 1]. */
  readonly scores: ArrayLike<number>;
  /** Labelled anomaly windows as inclusive `[startMs, endMs]`, in time order, not overlapping. */
  readonly windows: readonly (readonly [number, number])[];
  /** Rows at the start that are not scored. @default NAB's `min(floor(0.15 * rows), 0.15 * 5000)` */
  readonly probationaryPoints?: number;
}

/** The input that failed validation is named in the message, with the offending value. */
export class NabScoreError extends Error {
  override readonly name = 'NabScoreError';
}

/**
 * NAB's probationary length (`nab/util.py#getProbationPeriod`): the first 15% of a file, capped at
 * 750 rows (15% of 5,000) so long files are not mostly probation.
 */
export function nabProbationaryPoints(rows: number, percent = NAB_PROBATIONARY_PERCENT): number {
  return Math.min(Math.floor(percent * rows), percent * 5000);
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * NAB's weighting curve. Position -1 is a window's first row (0.98661), 0 its last row (0), and
 * positive positions lie after a window, reaching -0.98661 at 1 and -1 beyond 3.
 */
export function scaledSigmoid(relativePosition: number): number {
  if (relativePosition > 3) return -1;
  return 2 * sigmoid(-5 * relativePosition) - 1;
}

const MAX_TP = scaledSigmoid(-1);

/** Where a row stands for scoring. */
const PROBATIONARY = -2;
const OUTSIDE = -1;

/**
 * A file reduced to what every threshold and every profile needs: per row, the window it is in
 * (an index, `OUTSIDE`, or `PROBATIONARY`) and its unweighted sigmoid value. Weights are applied
 * later, so one preparation serves all three profiles.
 */
export interface PreparedNabFile {
  readonly name: string;
  readonly rows: number;
  readonly scores: Float64Array;
  /** Window index per row, or -1 outside windows, or -2 in the probationary period. */
  readonly rowWindow: Int32Array;
  /** `scaledSigmoid` of the row's position, divided by its value at -1 inside windows. */
  readonly rowWeight: Float64Array;
  /** Labelled windows as inclusive row ranges. */
  readonly windowRows: readonly (readonly [number, number])[];
  /** Windows with at least one row after the probationary period; only these are scored. */
  readonly scoredWindows: number;
  readonly probationaryPoints: number;
}

/**
 * Maps windows to row ranges, scanning rows in file order as NAB's sweeper does: a window opens at
 * the first row at or after its start and closes at the first later row at its end (or just before
 * the first row past it). File order matters because a few NAB files step back in time.
 */
export function windowRowRanges(
  name: string,
  timestampsMs: ArrayLike<number>,
  windows: readonly (readonly [number, number])[],
): [number, number][] {
  const ranges: [number, number][] = [];
  let from = 0;
  for (const [k, [startMs, endMs]] of windows.entries()) {
    let first = from;
    while (first < timestampsMs.length && timestampsMs[first]! < startMs) first++;
    let last = first;
    while (last < timestampsMs.length && timestampsMs[last]! < endMs) last++;
    if (last === timestampsMs.length || timestampsMs[last]! > endMs) last--;
    if (first >= timestampsMs.length || last < first) {
      throw new NabScoreError(
        `file '${name}': window ${k} [${new Date(startMs).toISOString()}, ${new Date(endMs).toISOString()}] holds no row`,
      );
    }
    ranges.push([first, last]);
    from = last + 1;
  }
  return ranges;
}

/**
 * The per-row part of `Sweeper.calcSweepScore`. Inside a window of width w ending at row e, row i
 * sits at `-(e - i + 1) / w`; outside, a row after a window sits at `(i - e) / (w - 1)` from it,
 * and a row before any window costs the full false-positive weight.
 */
export function prepareNabFile(file: NabFileInput): PreparedNabFile {
  const rows = file.timestampsMs.length;
  if (file.scores.length !== rows) {
    throw new NabScoreError(
      `file '${file.name}': 'scores' has ${file.scores.length} entries but 'timestampsMs' has ${rows}`,
    );
  }
  const scores = Float64Array.from(file.scores);
  for (let i = 0; i < rows; i++) {
    const s = scores[i]!;
    if (!(s >= 0 && s <= 1))
      throw new NabScoreError(`file '${file.name}': scores[${i}] (${s}) is not in [0, 1]`);
  }
  const windowRows = windowRowRanges(file.name, file.timestampsMs, file.windows);
  const probationaryPoints = file.probationaryPoints ?? nabProbationaryPoints(rows);

  const rowWindow = new Int32Array(rows).fill(OUTSIDE);
  const rowWeight = new Float64Array(rows);
  let next = 0;
  let previous: readonly [number, number] | undefined;
  let current: readonly [number, number] | undefined;
  for (let i = 0; i < rows; i++) {
    const upcoming = windowRows[next];
    if (current === undefined && upcoming !== undefined && i === upcoming[0]) {
      current = upcoming;
      next++;
    }
    if (current !== undefined) {
      const width = current[1] - current[0] + 1;
      rowWeight[i] = scaledSigmoid(-(current[1] - i + 1) / width) / MAX_TP;
      rowWindow[i] = next - 1;
    } else if (previous === undefined) {
      rowWeight[i] = -1;
    } else {
      // A one-row window divides by zero here; NAB would fail, we take the far-away weight of -1.
      rowWeight[i] = scaledSigmoid(Math.abs(previous[1] - i) / (previous[1] - previous[0]));
    }
    if (i < probationaryPoints) rowWindow[i] = PROBATIONARY;
    if (current !== undefined && i === current[1]) {
      previous = current;
      current = undefined;
    }
  }
  const scoredWindows = windowRows.filter(([, last]) => last >= probationaryPoints).length;
  return {
    name: file.name,
    rows,
    scores,
    rowWindow,
    rowWeight,
    windowRows,
    scoredWindows,
    probationaryPoints,
  };
}

/** NAB's row counts at one threshold: rows (not windows) detected inside and outside windows. */
export interface NabCounts {
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  readonly tn: number;
}

export interface ThresholdScore extends NabCounts {
  /** Rows with an anomaly score at or above this are detections. */
  readonly threshold: number;
  readonly score: number;
}

/**
 * `Sweeper.calcScoreByThreshold` over any number of files: the score at every distinct anomaly
 * score used as a threshold, from 1.1 (nothing detected) down to the lowest score, in one pass over
 * the rows sorted once by descending score.
 */
export function scoresByThreshold(files: readonly PreparedNabFile[], cost: CostMatrix): ThresholdScore[] {
  return sweepThresholds(files, cost, sortByDescendingScore(files));
}

interface RowRef {
  readonly file: Uint32Array;
  readonly row: Uint32Array;
  readonly score: Float64Array;
}

function sortByDescendingScore(files: readonly PreparedNabFile[]): RowRef {
  let total = 0;
  for (const f of files) for (let i = 0; i < f.rows; i++) if (f.rowWindow[i] !== PROBATIONARY) total++;
  const order = new Uint32Array(total);
  const fileOf = new Uint32Array(total);
  const rowOf = new Uint32Array(total);
  const scoreOf = new Float64Array(total);
  let k = 0;
  for (const [fi, f] of files.entries()) {
    for (let i = 0; i < f.rows; i++) {
      if (f.rowWindow[i] === PROBATIONARY) continue;
      fileOf[k] = fi;
      rowOf[k] = i;
      scoreOf[k] = f.scores[i]!;
      order[k] = k;
      k++;
    }
  }
  // Ties keep corpus order, as Python's stable sort does.
  order.sort((a, b) => scoreOf[b]! - scoreOf[a]! || a - b);
  const sorted = {
    file: new Uint32Array(total),
    row: new Uint32Array(total),
    score: new Float64Array(total),
  };
  for (let j = 0; j < total; j++) {
    const o = order[j]!;
    sorted.file[j] = fileOf[o]!;
    sorted.row[j] = rowOf[o]!;
    sorted.score[j] = scoreOf[o]!;
  }
  return sorted;
}

function sweepThresholds(
  files: readonly PreparedNabFile[],
  cost: CostMatrix,
  sorted: RowRef,
): ThresholdScore[] {
  // Best weight so far per (file, window); -fnWeight until a row of the window is detected.
  const windowBase: number[] = [];
  let windowCount = 0;
  for (const f of files) {
    windowBase.push(windowCount);
    windowCount += f.windowRows.length;
  }
  const windowPart = new Float64Array(windowCount);
  const windowScored = new Uint8Array(windowCount);
  for (const [fi, f] of files.entries()) {
    for (let i = 0; i < f.rows; i++) {
      const w = f.rowWindow[i]!;
      if (w >= 0) windowScored[windowBase[fi]! + w] = 1;
    }
  }
  let windowSum = 0;
  for (let w = 0; w < windowCount; w++) {
    if (windowScored[w]) {
      windowPart[w] = -cost.fnWeight;
      windowSum -= cost.fnWeight;
    }
  }

  let tn = 0;
  let fn = 0;
  for (const f of files) {
    for (let i = 0; i < f.rows; i++) {
      const w = f.rowWindow[i]!;
      if (w === OUTSIDE) tn++;
      else if (w >= 0) fn++;
    }
  }
  let tp = 0;
  let fp = 0;
  let fpSum = 0;
  const out: ThresholdScore[] = [];
  let threshold = NAB_NO_DETECTION_THRESHOLD;
  const n = sorted.score.length;
  for (let k = 0; k < n; k++) {
    const s = sorted.score[k]!;
    if (s !== threshold) {
      out.push({ threshold, score: fpSum + windowSum, tp, fp, fn, tn });
      threshold = s;
    }
    const f = files[sorted.file[k]!]!;
    const i = sorted.row[k]!;
    const w = f.rowWindow[i]!;
    const weight = f.rowWeight[i]!;
    if (w === OUTSIDE) {
      fp++;
      tn--;
      fpSum += weight * cost.fpWeight;
    } else {
      tp++;
      fn--;
      const key = windowBase[sorted.file[k]!]! + w;
      const candidate = weight * cost.tpWeight;
      if (candidate > windowPart[key]!) {
        windowSum += candidate - windowPart[key]!;
        windowPart[key] = candidate;
      }
    }
  }
  out.push({ threshold, score: fpSum + windowSum, tp, fp, fn, tn });
  return out;
}

/** The threshold with the highest score; among equal scores the highest threshold, as NAB picks. */
function bestOf(rows: readonly ThresholdScore[]): ThresholdScore {
  let best = rows[0]!;
  for (const r of rows) if (r.score > best.score) best = r;
  return best;
}

export interface NabFileScore extends NabCounts {
  readonly name: string;
  readonly score: number;
  /** Scored windows (those not entirely in the probationary period). */
  readonly windows: number;
  readonly detectedWindows: number;
}

/**
 * One file's score at a given threshold (`Sweeper.scoreDataSet`): rows scoring at or above the
 * threshold are detections.
 */
export function scoreFileAtThreshold(
  file: PreparedNabFile,
  cost: CostMatrix,
  threshold: number,
): NabFileScore {
  const best = new Float64Array(file.windowRows.length).fill(Number.NEGATIVE_INFINITY);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  let fpSum = 0;
  for (let i = 0; i < file.rows; i++) {
    const w = file.rowWindow[i]!;
    if (w === PROBATIONARY) continue;
    const detected = file.scores[i]! >= threshold;
    if (w === OUTSIDE) {
      if (detected) {
        fp++;
        fpSum += file.rowWeight[i]! * cost.fpWeight;
      } else tn++;
    } else if (detected) {
      tp++;
      best[w] = Math.max(best[w]!, file.rowWeight[i]! * cost.tpWeight);
    } else fn++;
  }
  let windowSum = 0;
  let detectedWindows = 0;
  for (let w = 0; w < file.windowRows.length; w++) {
    if (file.windowRows[w]![1] < file.probationaryPoints) continue;
    if (best[w]! > Number.NEGATIVE_INFINITY) detectedWindows++;
    windowSum += Math.max(-cost.fnWeight, best[w]!);
  }
  return {
    name: file.name,
    score: fpSum + windowSum,
    tp,
    fp,
    fn,
    tn,
    windows: file.scoredWindows,
    detectedWindows,
  };
}

export interface NabProfileResult {
  readonly profile: string;
  readonly cost: CostMatrix;
  /** The one corpus-wide threshold that maximises this profile's raw score. */
  readonly threshold: number;
  /** Sum of the files' scores at that threshold. */
  readonly rawScore: number;
  /** `100 * (raw - null) / (perfect - null)`. */
  readonly normalisedScore: number;
  /** Raw score of NAB's null detector (a constant score) on the same files. */
  readonly nullScore: number;
  /** Every window detected at its first row: windows times `tpWeight`. */
  readonly perfectScore: number;
  readonly files: readonly NabFileScore[];
}

export interface NabCorpusResult {
  readonly profiles: Readonly<Record<string, NabProfileResult>>;
  readonly files: number;
  readonly windows: number;
}

/**
 * Scores a corpus under each profile: optimise the threshold across all files, score each file at
 * it, and normalise against the null detector (`runner.py#normalize`). The perfect score counts
 * every labelled window of the files given, as NAB counts every window of its label file.
 */
export function scoreNabCorpus(
  inputs: readonly NabFileInput[],
  profiles: Readonly<Record<string, CostMatrix>> = NAB_PROFILES,
): NabCorpusResult {
  const files = inputs.map(prepareNabFile);
  const sorted = sortByDescendingScore(files);
  // NAB's null detector scores every row 0.5; its results go through the same optimiser.
  const nullFiles = files.map((f) => ({ ...f, scores: new Float64Array(f.rows).fill(0.5) }));
  const nullSorted = sortByDescendingScore(nullFiles);
  const windows = files.reduce((sum, f) => sum + f.windowRows.length, 0);

  const results: Record<string, NabProfileResult> = {};
  for (const [profile, cost] of Object.entries(profiles)) {
    const best = bestOf(sweepThresholds(files, cost, sorted));
    const nullScore = bestOf(sweepThresholds(nullFiles, cost, nullSorted)).score;
    const perFile = files.map((f) => scoreFileAtThreshold(f, cost, best.threshold));
    const rawScore = perFile.reduce((sum, f) => sum + f.score, 0);
    const perfectScore = windows * cost.tpWeight;
    results[profile] = {
      profile,
      cost,
      threshold: best.threshold,
      rawScore,
      normalisedScore: normaliseNabScore(rawScore, nullScore, perfectScore),
      nullScore,
      perfectScore,
      files: perFile,
    };
  }
  return { profiles: results, files: files.length, windows };
}

/** NAB's normalisation: the null detector maps to 0, a perfect detector to 100. */
export function normaliseNabScore(raw: number, nullScore: number, perfect: number): number {
  return (100 * (raw - nullScore)) / (perfect - nullScore);
}
