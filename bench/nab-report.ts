import { NAB_PROFILE_NAMES, type NabCorpusResult } from '../ml/evaluation/nab-scorer.js';
import { type AlertComparisonSummary, windowMask } from '../ml/evaluation/static-threshold.js';
import { formatNabTimestamp } from '../ml/series.js';
import { escapeHtml as esc } from './html.js';
import type { NabRunFile } from './nab-runner.js';
import { nabTargets } from './nab-targets.js';

/** Published NAB standard-profile scores on the development split, for comparison. */
export const PUBLISHED_STANDARD_SCORES: readonly { readonly detector: string; readonly standard: number }[] =
  [
    { detector: 'ARTime', standard: 73.6 },
    { detector: 'Numenta HTM', standard: 69.5 },
    { detector: 'CAD OSE', standard: 66.1 },
    { detector: 'Random Cut Forest', standard: 61.3 },
    { detector: 'windowed Gaussian', standard: 37.7 },
  ];

export interface NabReportInput {
  readonly detector: string;
  readonly files: readonly NabRunFile[];
  readonly corpus: NabCorpusResult;
  readonly staticThreshold: AlertComparisonSummary;
  /** Scores at or above this were the detector's alerts in the comparison with the static rule. */
  readonly alertThreshold: number;
  /** Wall time of the run; absent when saved results were scored again. */
  readonly seconds?: number;
}

const WIDTH = 960;
const VALUE_HEIGHT = 150;
const SCORE_HEIGHT = 60;
const GAP = 8;

/** A self-contained page: inline SVG and CSS, nothing fetched, long series drawn as min/max per pixel column. */
export function renderNabReport(input: NabReportInput): string {
  const standard = input.corpus.profiles.standard!;
  const perFile = new Map(standard.files.map((f) => [f.name, f]));
  const staticPerFile = new Map(input.staticThreshold.perFile.map((f) => [f.name, f]));
  const charts = input.files
    .map((file) => {
      const score = perFile.get(file.relativePath);
      const rule = staticPerFile.get(file.relativePath)?.rule;
      const caption = [
        score ? `score ${fmt(score.score, 3)}` : '',
        score ? `windows ${score.detectedWindows}/${score.windows}` : '',
        score ? `TP ${score.tp} FP ${score.fp} FN ${score.fn} TN ${score.tn}` : '',
        rule && Number.isFinite(rule.threshold)
          ? `static rule: value ${rule.direction === 'above' ? '≥' : '≤'} ${fmt(rule.threshold, 3)}`
          : '',
      ]
        .filter(Boolean)
        .join(' · ');
      return `<section class="file"><h3>${esc(file.relativePath)}</h3><p class="caption">${esc(caption)}</p>${chart(file, standard.threshold)}</section>`;
    })
    .join('\n');

  const profileRows = NAB_PROFILE_NAMES.map((name) => {
    const p = input.corpus.profiles[name]!;
    return `<tr><td>${name}</td><td>${fmt(p.normalisedScore, 1)}</td><td>${fmt(p.rawScore, 3)}</td><td>${String(p.threshold)}</td><td>${fmt(p.nullScore, 2)}</td><td>${fmt(p.perfectScore, 2)}</td></tr>`;
  }).join('');
  const published = PUBLISHED_STANDARD_SCORES.map(
    (p) => `<tr><td>${esc(p.detector)} (published)</td><td>${fmt(p.standard, 1)}</td></tr>`,
  ).join('');
  const s = input.staticThreshold;
  const side = (label: string, v: AlertComparisonSummary['detector']) =>
    `<tr><td>${label}</td><td>${fmt(100 * v.recall, 1)}%</td><td>${fmt(v.falseAlarmsPerDay, 3)}</td><td>${fmt(v.falsePositiveRowsPerDay, 3)}</td><td>${v.medianDelayMinutes === null ? '–' : fmt(v.medianDelayMinutes, 0)}</td></tr>`;
  const placeRow = (label: string, v: AlertComparisonSummary['detector']) => {
    const p = v.falseAlarmPlaces;
    const total = p.startUp + p.afterWindow + p.beforeWindow + p.elsewhere;
    return `<tr><td>${label}</td><td>${p.startUp}</td><td>${p.afterWindow}</td><td>${p.beforeWindow}</td><td>${p.elsewhere}</td><td>${total}</td></tr>`;
  };
  const targetRows = nabTargets(input)
    .map(
      (t) =>
        `<tr class="${t.met ? 'met' : 'missed'}"><td>${esc(t.target)}</td><td>${esc(t.aim)}</td><td>${esc(t.measured)}</td><td>${t.met ? 'yes' : 'no'}</td></tr>`,
    )
    .join('');
  const fileRows = standard.files
    .map((f) => {
      const alerts = staticPerFile.get(f.name);
      const pages = alerts
        ? `<td>${alerts.detector.falseAlarms}</td><td>${alerts.staticRule.falseAlarms}</td>`
        : '<td>–</td><td>–</td>';
      return `<tr><td>${esc(f.name)}</td><td>${fmt(f.score, 3)}</td><td>${f.detectedWindows}/${f.windows}</td><td>${f.tp}</td><td>${f.fp}</td><td>${f.fn}</td><td>${f.tn}</td>${pages}</tr>`;
    })
    .join('');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>NAB report: ${esc(input.detector)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}h3{margin:18px 0 2px;font-size:14px}.caption{margin:0 0 4px;color:#555}
svg{display:block;background:#fff;border:1px solid #ddd}.window{fill:#f6c453;fill-opacity:.35}
.probation{fill:#999;fill-opacity:.12}.series{fill:none;stroke:#2b6cb0;stroke-width:1}
.score{fill:none;stroke:#555;stroke-width:1}.threshold{stroke:#c53030;stroke-dasharray:4 3}
.detection{fill:#2f855a}.false-positive{fill:#c53030}tr.missed td:last-child{color:#c53030;font-weight:600}.legend span{margin-right:14px}
</style></head><body>
<h1>NAB benchmark: ${esc(input.detector)}</h1>
<p>${input.corpus.files} files, ${input.corpus.windows} labelled windows, ${input.seconds === undefined ? 'scored from saved results' : `${fmt(input.seconds, 1)} s`}.
Threshold shown: the standard profile's (${String(standard.threshold)}).</p>
<h2>Scores</h2>
<table><tr><th>profile</th><th>normalised</th><th>raw</th><th>threshold</th><th>null</th><th>perfect</th></tr>${profileRows}</table>
<table><tr><th>detector</th><th>standard</th></tr><tr><td>${esc(input.detector)} (this run)</td><td>${fmt(standard.normalisedScore, 1)}</td></tr>${published}</table>
<h2>Against a static threshold at equal recall</h2>
<p>Over ${s.files} files with labelled windows (${fmt(s.scoredDays, 1)} days scored). The detector alerts at scores of ${String(input.alertThreshold)} or more${input.alertThreshold === standard.threshold ? ", the standard profile's threshold" : ''}. An alert episode groups detections no more than ${fmt(s.episodeGapMinutes, 0)} min apart; a false alarm is an episode that touches no window, the page an on-call engineer gets; false positive rows count every flagged row outside the windows, as NAB does. Delay: window start to first detection.</p>
<table><tr><th></th><th>recall</th><th>false alarms / day</th><th>false positive rows / day</th><th>median delay (min)</th></tr>${side(esc(input.detector), s.detector)}${side('static threshold', s.staticThreshold)}</table>
<p>Where the false alarms start: in the first ${s.falseAlarmPlaceOptions.startUpRows} scored rows (start-up), within ${s.falseAlarmPlaceOptions.afterWindowLengths} window lengths after a window, within ${s.falseAlarmPlaceOptions.beforeWindowLengths} before one, or elsewhere.</p>
<table id="false-alarm-places"><tr><th>false alarms</th><th>start-up</th><th>after a window</th><th>before a window</th><th>elsewhere</th><th>all</th></tr>${placeRow(esc(input.detector), s.detector)}${placeRow('static threshold', s.staticThreshold)}</table>
<p>Windows both detect where the static rule is not firing at the window start: ${s.comparableWindows}; the detector is earlier by a median of ${s.medianGainMinutes === null ? '–' : `${fmt(s.medianGainMinutes, 0)} min`}. Of them, ${s.gradualWindows} build up gradually (the value creeps to the threshold instead of jumping over it); there the median gain is ${s.medianGainOnGradualMinutes === null ? '–' : `${fmt(s.medianGainOnGradualMinutes, 0)} min`}.</p>
<h2>Targets</h2>
<table id="targets"><tr><th>target</th><th>aim</th><th>measured</th><th>met</th></tr>${targetRows}</table>
<h2>Per file (standard profile)</h2>
<table><tr><th>file</th><th>score</th><th>windows</th><th>TP</th><th>FP</th><th>FN</th><th>TN</th><th>false alarms</th><th>static rule's</th></tr>${fileRows}</table>
<p class="legend"><span style="color:#2b6cb0">■ value</span><span style="color:#555">■ anomaly score</span><span style="color:#2f855a">▲ detection in a window</span><span style="color:#c53030">▲ false positive</span><span style="color:#d69e2e">■ labelled window</span><span style="color:#999">■ probation</span></p>
${charts}
</body></html>
`;
}

/** One file: value panel above, score panel below, windows shaded, detections marked. */
function chart(file: NabRunFile, threshold: number): string {
  const n = file.values.length;
  const height = VALUE_HEIGHT + GAP + SCORE_HEIGHT;
  const x = (i: number) => (n <= 1 ? 0 : (i / (n - 1)) * (WIDTH - 1));
  const shading = file.windowRows
    .map(
      ([a, b]) =>
        `<rect class="window" x="${x(a).toFixed(1)}" y="0" width="${Math.max(1, x(b) - x(a)).toFixed(1)}" height="${height}"/>`,
    )
    .join('');
  const probation = `<rect class="probation" x="0" y="0" width="${x(file.probationaryPoints).toFixed(1)}" height="${height}"/>`;
  const valuePath = minMaxPath(file.values, 0, VALUE_HEIGHT);
  const scorePath = minMaxPath(file.scores, VALUE_HEIGHT + GAP, SCORE_HEIGHT, 0, 1);
  const yThreshold = VALUE_HEIGHT + GAP + (1 - Math.min(1, threshold)) * SCORE_HEIGHT;
  // Detections inside a window and false positives outside, each at most once per pixel column.
  const inWindow = windowMask(n, file.windowRows);
  const marks: string[] = [];
  const falseMarks: string[] = [];
  let lastColumn = -1;
  let lastFalseColumn = -1;
  for (let i = file.probationaryPoints; i < n; i++) {
    if (file.scores[i]! < threshold) continue;
    const column = Math.round(x(i));
    const mark = `M${column - 3},8L${column + 3},8L${column},2Z`;
    if (inWindow[i] === 1) {
      if (column !== lastColumn) marks.push(mark);
      lastColumn = column;
    } else {
      if (column !== lastFalseColumn) falseMarks.push(mark);
      lastFalseColumn = column;
    }
  }
  const first = n > 0 ? formatNabTimestamp(file.timestampsMs[0]!) : '';
  const last = n > 0 ? formatNabTimestamp(file.timestampsMs[n - 1]!) : '';
  return `<svg class="chart" data-file="${esc(file.relativePath)}" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${esc(`${file.relativePath}, ${first} to ${last}`)}">
${probation}${shading}<path class="series" d="${valuePath}"/><path class="score" d="${scorePath}"/>
<line class="threshold" x1="0" x2="${WIDTH}" y1="${yThreshold.toFixed(1)}" y2="${yThreshold.toFixed(1)}"/>
${marks.length > 0 ? `<path class="detection" d="${marks.join('')}"/>` : ''}${falseMarks.length > 0 ? `<path class="false-positive" d="${falseMarks.join('')}"/>` : ''}</svg>`;
}

/** One vertical min-to-max stroke per pixel column, joined: faithful at any length, a few KB per chart. */
function minMaxPath(
  values: ArrayLike<number>,
  top: number,
  height: number,
  lo?: number,
  hi?: number,
): string {
  const n = values.length;
  if (n === 0) return '';
  let min = lo ?? Number.POSITIVE_INFINITY;
  let max = hi ?? Number.NEGATIVE_INFINITY;
  if (lo === undefined || hi === undefined) {
    for (let i = 0; i < n; i++) {
      min = Math.min(min, values[i]!);
      max = Math.max(max, values[i]!);
    }
  }
  const span = max - min || 1;
  const y = (v: number) => (top + 2 + (1 - (v - min) / span) * (height - 4)).toFixed(1);
  const columns = Math.min(WIDTH, n);
  const parts: string[] = [];
  for (let c = 0; c < columns; c++) {
    const from = Math.floor((c * n) / columns);
    const to = Math.max(from + 1, Math.floor(((c + 1) * n) / columns));
    let cMin = Number.POSITIVE_INFINITY;
    let cMax = Number.NEGATIVE_INFINITY;
    for (let i = from; i < to; i++) {
      cMin = Math.min(cMin, values[i]!);
      cMax = Math.max(cMax, values[i]!);
    }
    const px = ((c / Math.max(1, columns - 1)) * (WIDTH - 1)).toFixed(1);
    parts.push(`${c === 0 ? 'M' : 'L'}${px},${y(cMax)}L${px},${y(cMin)}`);
  }
  return parts.join('');
}

function fmt(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : String(v);
}
