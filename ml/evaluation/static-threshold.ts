/**
 * Compares a detector with the static threshold an SRE would write as a Prometheus alert rule, in
 * the terms an on-call engineer feels: false alarms per day and how long after an anomaly window
 * opens the first alert fires, at equal recall.
 *
 * The static rule is one-sided per file, `value >= t` or `value <= t`, as an alert rule is: the
 * engineer knows whether the metric's bad direction is up (latency, CPU) or down (traffic). Both
 * the direction and `t` are chosen per file with hindsight, the best the rule could ever do, so the
 * comparison flatters the baseline. `t` is the highest threshold that still detects as many
 * windows in the file as the detector did, which is the one with the fewest false alarms.
 */

/** One file as the comparison needs it. Rows before `probationaryPoints` are ignored by both. */
export interface AlertComparisonFile {
  readonly name: string;
  readonly timestampsMs: ArrayLike<number>;
  readonly values: ArrayLike<number>;
  /** Inclusive row ranges of the labelled windows. */
  readonly windowRows: readonly (readonly [number, number])[];
  readonly probationaryPoints: number;
  /** The detector's decision per row (score at or above its threshold). */
  readonly detectorAlerts: ArrayLike<boolean>;
}

export interface AlertComparisonOptions extends FalseAlarmPlaceOptions {
  /**
   * Detections no further apart than this belong to one alert episode, as a firing alert stays one
   * notification while its condition keeps recurring.
   * @default 3,600,000 ms (one hour)
   */
  readonly episodeGapMs?: number;
}

/**
 * Where a false alarm starts, which hints at its cause: `startUp`, in the first scored rows, where
 * a streaming detector's statistics have the least history; `afterWindow`, while a detector judges
 * the return to normal against a history the anomaly filled; `beforeWindow`, trouble that may
 * have begun before its label; `elsewhere`, ordinary running. The first that applies counts.
 */
export type FalseAlarmPlace = 'startUp' | 'afterWindow' | 'beforeWindow' | 'elsewhere';

export type FalseAlarmPlaces = Readonly<Record<FalseAlarmPlace, number>>;

export const FALSE_ALARM_PLACE_DEFAULTS: Required<FalseAlarmPlaceOptions> = Object.freeze({
  startUpRows: 100,
  afterWindowLengths: 3,
  beforeWindowLengths: 1,
});

export interface FalseAlarmPlaceOptions {
  /** Scored rows after the probationary period that count as start-up. @default 100 */
  readonly startUpRows?: number;
  /** Window lengths after a window's last row that count as after it. @default 3 */
  readonly afterWindowLengths?: number;
  /** Window lengths before a window's first row that count as before it. @default 1 */
  readonly beforeWindowLengths?: number;
}

/** An alert episode: a run of detections with no gap longer than the episode gap. */
export interface AlertEpisode {
  readonly firstRow: number;
  readonly lastRow: number;
  /** True when no detection of the episode lies inside a labelled window. */
  readonly falseAlarm: boolean;
}

export interface AlertOutcome {
  readonly falseAlarms: number;
  /** The false alarms by where they start. */
  readonly falseAlarmPlaces: FalseAlarmPlaces;
  /** Rows flagged outside every window after the probationary period: NAB's false positives. */
  readonly falsePositiveRows: number;
  /** Per window: ms from the window's first scored row to the first detection in it, or null if missed. */
  readonly delaysMs: readonly (number | null)[];
}

export interface StaticRule {
  readonly direction: 'above' | 'below';
  /** `value >= threshold` (above) or `value <= threshold` (below); infinite when no window needs catching. */
  readonly threshold: number;
}

export interface FileAlertComparison {
  readonly name: string;
  readonly windows: number;
  readonly rule: StaticRule;
  readonly detector: AlertOutcome;
  readonly staticRule: AlertOutcome;
  readonly scoredDays: number;
}

export interface AlertSideSummary {
  /** Share of labelled windows with at least one detection. */
  readonly recall: number;
  readonly falseAlarmsPerDay: number;
  /** NAB's false positives: flagged rows outside the windows, per scored day. */
  readonly falsePositiveRowsPerDay: number;
  /** Median over detected windows of the time from window start to first detection. */
  readonly medianDelayMinutes: number | null;
  /** False alarms (counts, not per day) by where they start. */
  readonly falseAlarmPlaces: FalseAlarmPlaces;
}

export interface AlertComparisonSummary {
  readonly files: number;
  readonly windows: number;
  readonly scoredDays: number;
  readonly episodeGapMinutes: number;
  /** How false alarms were placed (see {@link FalseAlarmPlace}). */
  readonly falseAlarmPlaceOptions: Required<FalseAlarmPlaceOptions>;
  readonly detector: AlertSideSummary;
  readonly staticThreshold: AlertSideSummary;
  /** Windows both detect where the static rule was not yet firing at the window's first row. */
  readonly comparableWindows: number;
  /** Median of (static delay - detector delay) over comparable windows; positive: the detector is earlier. */
  readonly medianGainMinutes: number | null;
  /**
   * Comparable windows whose anomaly builds up: the value crept up to the rule's threshold
   * rather than jumping over it (see {@link buildsUpGradually}). On a jump both fire at the
   * same row, and no detector can be earlier.
   */
  readonly gradualWindows: number;
  /** Median of (static delay - detector delay) over gradual windows; positive: the detector is earlier. */
  readonly medianGainOnGradualMinutes: number | null;
  readonly perFile: readonly FileAlertComparison[];
}

const DAY_MS = 86_400_000;

/** Groups detections after the probationary period into episodes. */
export function alertEpisodes(
  file: Pick<AlertComparisonFile, 'timestampsMs' | 'windowRows' | 'probationaryPoints'>,
  alerts: ArrayLike<boolean>,
  episodeGapMs: number,
): AlertEpisode[] {
  const inWindow = windowMask(file.timestampsMs.length, file.windowRows);
  const episodes: AlertEpisode[] = [];
  let first = -1;
  let last = -1;
  let touchesWindow = false;
  for (let i = file.probationaryPoints; i < file.timestampsMs.length; i++) {
    if (!alerts[i]) continue;
    if (first >= 0 && file.timestampsMs[i]! - file.timestampsMs[last]! > episodeGapMs) {
      episodes.push({ firstRow: first, lastRow: last, falseAlarm: !touchesWindow });
      first = -1;
    }
    if (first < 0) {
      first = i;
      touchesWindow = false;
    }
    last = i;
    touchesWindow ||= inWindow[i] === 1;
  }
  if (first >= 0) episodes.push({ firstRow: first, lastRow: last, falseAlarm: !touchesWindow });
  return episodes;
}

/** 1 for every row inside one of the inclusive `windowRows` ranges, 0 elsewhere. */
export function windowMask(rows: number, windowRows: readonly (readonly [number, number])[]): Uint8Array {
  const mask = new Uint8Array(rows);
  for (const [a, b] of windowRows) mask.fill(1, a, b + 1);
  return mask;
}

/** Where a false alarm that starts at `row` falls (see {@link FalseAlarmPlace}). */
export function falseAlarmPlace(
  file: Pick<AlertComparisonFile, 'windowRows' | 'probationaryPoints'>,
  row: number,
  options: FalseAlarmPlaceOptions = {},
): FalseAlarmPlace {
  const { startUpRows, afterWindowLengths: after, beforeWindowLengths: before } = placeOptionsOf(options);
  if (row < file.probationaryPoints + startUpRows) return 'startUp';
  const length = ([a, b]: readonly [number, number]) => b - a + 1;
  if (file.windowRows.some((w) => row > w[1] && row <= w[1] + after * length(w))) return 'afterWindow';
  if (file.windowRows.some((w) => row < w[0] && row >= w[0] - before * length(w))) return 'beforeWindow';
  return 'elsewhere';
}

function placeOptionsOf(options: FalseAlarmPlaceOptions): Required<FalseAlarmPlaceOptions> {
  return {
    startUpRows: options.startUpRows ?? FALSE_ALARM_PLACE_DEFAULTS.startUpRows,
    afterWindowLengths: options.afterWindowLengths ?? FALSE_ALARM_PLACE_DEFAULTS.afterWindowLengths,
    beforeWindowLengths: options.beforeWindowLengths ?? FALSE_ALARM_PLACE_DEFAULTS.beforeWindowLengths,
  };
}

const NO_FALSE_ALARMS: FalseAlarmPlaces = Object.freeze({
  startUp: 0,
  afterWindow: 0,
  beforeWindow: 0,
  elsewhere: 0,
});

function addPlaces(a: FalseAlarmPlaces, b: FalseAlarmPlaces): FalseAlarmPlaces {
  return {
    startUp: a.startUp + b.startUp,
    afterWindow: a.afterWindow + b.afterWindow,
    beforeWindow: a.beforeWindow + b.beforeWindow,
    elsewhere: a.elsewhere + b.elsewhere,
  };
}

/** False alarms and per-window delays of one set of alerts. */
export function alertOutcome(
  file: Pick<AlertComparisonFile, 'timestampsMs' | 'windowRows' | 'probationaryPoints'>,
  alerts: ArrayLike<boolean>,
  episodeGapMs: number,
  placeOptions: FalseAlarmPlaceOptions = {},
): AlertOutcome {
  const falseEpisodes = alertEpisodes(file, alerts, episodeGapMs).filter((e) => e.falseAlarm);
  const places: Record<FalseAlarmPlace, number> = { ...NO_FALSE_ALARMS };
  for (const e of falseEpisodes) places[falseAlarmPlace(file, e.firstRow, placeOptions)]++;
  const inWindow = windowMask(file.timestampsMs.length, file.windowRows);
  let falsePositiveRows = 0;
  for (let i = file.probationaryPoints; i < file.timestampsMs.length; i++) {
    if (alerts[i] && inWindow[i] === 0) falsePositiveRows++;
  }
  const delaysMs = scoredWindows(file).map(([a, b]) => {
    for (let i = a; i <= b; i++) if (alerts[i]) return file.timestampsMs[i]! - file.timestampsMs[a]!;
    return null;
  });
  return { falseAlarms: falseEpisodes.length, falseAlarmPlaces: places, falsePositiveRows, delaysMs };
}

/** Windows clipped to the rows after the probationary period; windows wholly inside it are dropped. */
function scoredWindows(
  file: Pick<AlertComparisonFile, 'windowRows' | 'probationaryPoints'>,
): [number, number][] {
  return file.windowRows
    .filter(([, b]) => b >= file.probationaryPoints)
    .map(([a, b]) => [Math.max(a, file.probationaryPoints), b]);
}

/**
 * The static rule for one file that detects `windowsToDetect` windows with the fewest false alarms:
 * per direction, the threshold is the `windowsToDetect`-th most extreme window peak; of the two
 * directions the one with fewer false alarms wins, then the earlier median detection.
 */
export function bestStaticRule(
  file: AlertComparisonFile,
  windowsToDetect: number,
  episodeGapMs: number,
  placeOptions: FalseAlarmPlaceOptions = {},
): { rule: StaticRule; alerts: boolean[]; outcome: AlertOutcome } {
  const windows = scoredWindows(file);
  const candidates = (['above', 'below'] as const).map((direction) => {
    const sign = direction === 'above' ? 1 : -1;
    const peaks = windows
      .map(([a, b]) => {
        let peak = Number.NEGATIVE_INFINITY;
        for (let i = a; i <= b; i++) peak = Math.max(peak, sign * file.values[i]!);
        return peak;
      })
      .sort((x, y) => y - x);
    const signed = windowsToDetect > 0 ? peaks[windowsToDetect - 1]! : Number.POSITIVE_INFINITY;
    const alerts = Array.from({ length: file.values.length }, (_, i) => sign * file.values[i]! >= signed);
    const outcome = alertOutcome(file, alerts, episodeGapMs, placeOptions);
    return { rule: { direction, threshold: sign * signed }, alerts, outcome };
  });
  const [above, below] = candidates as [(typeof candidates)[0], (typeof candidates)[0]];
  if (below.outcome.falseAlarms !== above.outcome.falseAlarms) {
    return below.outcome.falseAlarms < above.outcome.falseAlarms ? below : above;
  }
  const medianBelow = median(below.outcome.delaysMs.filter((d): d is number => d !== null));
  const medianAbove = median(above.outcome.delaysMs.filter((d): d is number => d !== null));
  return medianBelow !== null && medianAbove !== null && medianBelow < medianAbove ? below : above;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Detector against the best static rule per file, at the detector's recall, over the files that
 * have at least one labelled window after the probationary period (recall is undefined elsewhere,
 * and there a hindsight rule would simply never fire).
 */
export function compareWithStaticThreshold(
  files: readonly AlertComparisonFile[],
  options: AlertComparisonOptions = {},
): AlertComparisonSummary {
  const gapMs = options.episodeGapMs ?? 3_600_000;
  const perFile: FileAlertComparison[] = [];
  const inputs: AlertComparisonFile[] = [];
  for (const file of files) {
    const windows = scoredWindows(file).length;
    if (windows === 0) continue;
    inputs.push(file);
    const detector = alertOutcome(file, file.detectorAlerts, gapMs, options);
    const caught = detector.delaysMs.filter((d) => d !== null).length;
    const best = bestStaticRule(file, caught, gapMs, options);
    const n = file.timestampsMs.length;
    const scoredDays =
      n > file.probationaryPoints
        ? (file.timestampsMs[n - 1]! - file.timestampsMs[file.probationaryPoints]!) / DAY_MS
        : 0;
    perFile.push({
      name: file.name,
      windows,
      rule: best.rule,
      detector,
      staticRule: best.outcome,
      scoredDays,
    });
  }

  const windows = perFile.reduce((s, f) => s + f.windows, 0);
  const scoredDays = perFile.reduce((s, f) => s + f.scoredDays, 0);
  const side = (pick: (f: FileAlertComparison) => AlertOutcome): AlertSideSummary => {
    const delays = perFile.flatMap((f) => pick(f).delaysMs.filter((d): d is number => d !== null));
    const falseAlarms = perFile.reduce((s, f) => s + pick(f).falseAlarms, 0);
    const falseRows = perFile.reduce((s, f) => s + pick(f).falsePositiveRows, 0);
    const medianMs = median(delays);
    const falseAlarmPlaces = perFile.reduce(
      (s, f) => addPlaces(s, pick(f).falseAlarmPlaces),
      NO_FALSE_ALARMS,
    );
    return {
      recall: windows > 0 ? delays.length / windows : 0,
      falseAlarmsPerDay: scoredDays > 0 ? falseAlarms / scoredDays : 0,
      falsePositiveRowsPerDay: scoredDays > 0 ? falseRows / scoredDays : 0,
      medianDelayMinutes: medianMs === null ? null : medianMs / 60_000,
      falseAlarmPlaces,
    };
  };
  const gains: number[] = [];
  const gradualGains: number[] = [];
  for (const [k, f] of perFile.entries()) {
    const input = inputs[k]!;
    const rows = scoredWindows(input);
    for (let w = 0; w < f.windows; w++) {
      const d = f.detector.delaysMs[w];
      const s = f.staticRule.delaysMs[w];
      if (d === null || d === undefined || s === null || s === undefined || s === 0) continue;
      gains.push(s - d);
      if (buildsUpGradually(input, rows[w]![0], s, f.rule.threshold)) gradualGains.push(s - d);
    }
  }
  const minutes = (ms: number | null) => (ms === null ? null : ms / 60_000);
  return {
    files: perFile.length,
    windows,
    scoredDays,
    episodeGapMinutes: gapMs / 60_000,
    falseAlarmPlaceOptions: placeOptionsOf(options),
    detector: side((f) => f.detector),
    staticThreshold: side((f) => f.staticRule),
    comparableWindows: gains.length,
    medianGainMinutes: minutes(median(gains)),
    gradualWindows: gradualGains.length,
    medianGainOnGradualMinutes: minutes(median(gradualGains)),
    perFile,
  };
}

/**
 * The step into the rule's first firing row may cover at most this share of the way from the
 * window's baseline to the threshold for the anomaly to count as building up.
 */
export const GRADUAL_JUMP_SHARE = 0.5;

/**
 * Whether a window's anomaly crept up to the static rule's threshold rather than jumping over it:
 * the step from the row before the rule's first firing row to that row covers less than
 * {@link GRADUAL_JUMP_SHARE} of the distance from the baseline (the median of the day before the
 * window) to the threshold.
 */
export function buildsUpGradually(
  file: Pick<AlertComparisonFile, 'timestampsMs' | 'values'>,
  windowFirstRow: number,
  staticDelayMs: number,
  threshold: number,
): boolean {
  const ts = file.timestampsMs;
  let fired = windowFirstRow;
  while (fired < ts.length - 1 && ts[fired]! - ts[windowFirstRow]! < staticDelayMs) fired++;
  if (fired === 0) return false;
  let from = windowFirstRow;
  while (from > 0 && ts[windowFirstRow]! - ts[from - 1]! <= DAY_MS) from--;
  const before: number[] = [];
  for (let i = from; i < windowFirstRow; i++) before.push(file.values[i]!);
  const baseline = median(before) ?? file.values[windowFirstRow]!;
  const step = Math.abs(file.values[fired]! - file.values[fired - 1]!);
  return step < GRADUAL_JUMP_SHARE * Math.abs(threshold - baseline);
}
