/**
 * Forecast error 30 minutes ahead on a folder of NAB-style CSVs, by rolling-origin evaluation:
 *   npm run bench:forecast -- --data DIR [--origins 12] [--horizon-minutes 30] [--out bench/results]
 * At each origin the model sees only the points before it and forecasts the next 30 minutes (in
 * points of the file's own step). The model the workflow uses (`auto`: MSTL or seasonal naive,
 * chosen by backtest on the history) is scored beside the seasonal-naive baseline of the same run.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type ForecastModelName,
  type ForecastResult,
  forecastSeries,
  horizonPoints,
  meanAbsoluteError,
  seasonalNaiveScale,
  smape,
} from '../ml/forecast.js';
import {
  createSeries,
  medianStepMs,
  parseCsvSeries,
  parseTimestamp,
  type Series,
  SeriesError,
  sliceSeries,
} from '../ml/series.js';
import { escapeHtml } from './html.js';

export interface FileScore {
  readonly file: string;
  readonly stepMinutes: number;
  readonly horizonPoints: number;
  readonly origins: number;
  readonly smape: number;
  readonly seasonalNaiveSmape: number;
  /** Undefined where the history repeats exactly, so the scale is zero. */
  readonly mase?: number;
  readonly seasonalNaiveMase?: number;
  readonly chosen: Record<ForecastModelName, number>;
  readonly durationMs: number;
}

export interface ForecastBenchResult {
  readonly horizonMinutes: number;
  readonly smape: number;
  readonly mase: number;
  readonly seasonalNaiveSmape: number;
}

interface PlotCase {
  readonly file: string;
  readonly history: Series;
  readonly actual: Series;
  readonly forecast: ForecastResult;
}

/** At least this much history before the first origin, so MSTL sees two daily cycles. */
const MIN_HISTORY_MS = 2 * 86_400_000;

export async function evaluateFile(
  name: string,
  series: Series,
  horizonMinutes: number,
  originCount: number,
): Promise<{ score?: FileScore; skipped?: string; plot?: PlotCase }> {
  const started = performance.now();
  const stepMs = medianStepMs(series);
  if (stepMs > horizonMinutes * 60_000) {
    return { skipped: `step ${stepMs / 60_000} min is longer than the ${horizonMinutes}-minute horizon` };
  }
  const horizon = horizonPoints(stepMs, horizonMinutes);
  const n = series.values.length;
  const first = Math.max(Math.ceil(MIN_HISTORY_MS / stepMs), Math.floor(n * 0.5));
  const last = n - horizon;
  if (last <= first) return { skipped: `${n} points leave no origin after two days of history` };

  const smapes: number[] = [];
  const naiveSmapes: number[] = [];
  const mases: number[] = [];
  const naiveMases: number[] = [];
  const chosen: Record<ForecastModelName, number> = { mstl: 0, 'seasonal-naive': 0 };
  let plot: PlotCase | undefined;
  for (let k = 0; k < originCount; k++) {
    const origin = Math.round(first + ((last - first) * k) / Math.max(1, originCount - 1));
    const history = sliceSeries(series, Math.max(0, origin - 4032), origin);
    const actual = series.values.subarray(origin, origin + horizon);
    const model = forecastSeries(history, { horizonMinutes });
    const naive = forecastSeries(history, { horizonMinutes, model: 'seasonal-naive' });
    chosen[model.model]++;
    smapes.push(smape(actual, model.point));
    naiveSmapes.push(smape(actual, naive.point));
    const scale = seasonalNaiveScale(history.values, naive.periodsPoints[0]!);
    if (scale > 0) {
      mases.push(meanAbsoluteError(actual, model.point) / scale);
      naiveMases.push(meanAbsoluteError(actual, naive.point) / scale);
    }
    if (k === originCount - 1) {
      // Six hours of context keeps the 30-minute forecast wide enough to read.
      const context = Math.min(history.values.length, Math.max(12, Math.round(21_600_000 / stepMs)));
      plot = {
        file: name,
        history: sliceSeries(history, history.values.length - context),
        actual: sliceSeries(series, origin, origin + horizon),
        forecast: model,
      };
    }
  }
  return {
    score: {
      file: name,
      stepMinutes: stepMs / 60_000,
      horizonPoints: horizon,
      origins: originCount,
      smape: mean(smapes),
      seasonalNaiveSmape: mean(naiveSmapes),
      ...(mases.length > 0 ? { mase: mean(mases), seasonalNaiveMase: mean(naiveMases) } : {}),
      chosen,
      durationMs: Math.round(performance.now() - started),
    },
    ...(plot ? { plot } : {}),
  };
}

/** Means over files, each file weighing the same whatever its length; MASE over files where it is defined. */
export function summarise(scores: readonly FileScore[], horizonMinutes: number): ForecastBenchResult {
  const withMase = scores.filter((s) => s.mase !== undefined);
  return {
    horizonMinutes,
    smape: mean(scores.map((s) => s.smape)),
    mase: mean(withMase.map((s) => s.mase!)),
    seasonalNaiveSmape: mean(scores.map((s) => s.seasonalNaiveSmape)),
  };
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * NAB files repeat a timestamp here and there (clock changes, duplicated rows); the strict parser
 * refuses them, so the bench keeps the last row of each timestamp, in time order.
 */
function readLenient(name: string, text: string): Series {
  try {
    return parseCsvSeries(name, text);
  } catch (err) {
    if (!(err instanceof SeriesError)) throw err;
  }
  const rows = new Map<number, number>();
  for (const line of text.split(/\r?\n/).slice(1)) {
    const [rawT, rawV] = line.split(',');
    const t = parseTimestamp(rawT?.trim() ?? '');
    const v = Number(rawV);
    if (Number.isFinite(t) && rawV !== undefined && rawV.trim() !== '' && Number.isFinite(v)) rows.set(t, v);
  }
  const times = [...rows.keys()].sort((a, b) => a - b);
  return createSeries(
    name,
    times,
    times.map((t) => rows.get(t)!),
  );
}

async function csvFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.csv'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function svgPlot(plot: PlotCase, width = 640, height = 220): string {
  const pad = 36;
  const xs = [...plot.history.timestampsMs, ...plot.actual.timestampsMs, ...plot.forecast.timestampsMs];
  const ys = [...plot.history.values, ...plot.actual.values, ...plot.forecast.point, ...plot.forecast.upper];
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (t: number) => pad + ((t - x0) / Math.max(1, x1 - x0)) * (width - 2 * pad);
  const sy = (v: number) => height - pad - ((v - y0) / Math.max(1e-12, y1 - y0)) * (height - 2 * pad);
  const line = (ts: ArrayLike<number>, vs: ArrayLike<number>) =>
    Array.from(ts, (t, i) => `${sx(t).toFixed(1)},${sy(vs[i]!).toFixed(1)}`).join(' ');
  const f = plot.forecast;
  const band = `${line(f.timestampsMs, f.upper)} ${line([...f.timestampsMs].reverse(), [...f.point].reverse())}`;
  return `<figure><figcaption>${escapeHtml(plot.file)}: model ${f.model}, ${f.horizonPoints} points ahead</figcaption>
<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">
<rect x="0" y="0" width="${width}" height="${height}" fill="#fff" stroke="#ddd"/>
<text x="4" y="14" font-size="10">${y1.toPrecision(4)}</text><text x="4" y="${height - pad}" font-size="10">${y0.toPrecision(4)}</text>
<polygon points="${band}" fill="#f5a623" fill-opacity="0.3"/>
<polyline points="${line(plot.history.timestampsMs, plot.history.values)}" fill="none" stroke="#555" stroke-width="1"/>
<polyline points="${line(plot.actual.timestampsMs, plot.actual.values)}" fill="none" stroke="#222" stroke-width="2"/>
<polyline points="${line(f.timestampsMs, f.point)}" fill="none" stroke="#d0021b" stroke-width="2"/>
</svg></figure>`;
}

export function renderHtml(
  result: ForecastBenchResult,
  scores: readonly FileScore[],
  plots: PlotCase[],
): string {
  const rows = scores
    .map(
      (s) =>
        `<tr><td>${escapeHtml(s.file)}</td><td>${s.stepMinutes}</td><td>${s.horizonPoints}</td><td>${s.smape.toFixed(2)}</td><td>${s.seasonalNaiveSmape.toFixed(2)}</td><td>${s.mase?.toFixed(3) ?? 'n/a'}</td><td>${s.chosen.mstl}/${s.chosen['seasonal-naive']}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Forecast ${result.horizonMinutes} minutes ahead</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child{text-align:left}figure{display:inline-block;margin:8px}</style></head><body>
<h1>Forecast error ${result.horizonMinutes} minutes ahead</h1>
<p>sMAPE ${result.smape.toFixed(2)}% (seasonal naive ${result.seasonalNaiveSmape.toFixed(2)}%), MASE ${result.mase.toFixed(3)}.</p>
<p>Grey: history; black: actual; red: forecast; orange: band up to the p90.</p>
${plots.map((p) => svgPlot(p)).join('\n')}
<table><thead><tr><th>file</th><th>step min</th><th>horizon pts</th><th>sMAPE %</th><th>seasonal naive sMAPE %</th><th>MASE</th><th>MSTL/naive chosen</th></tr></thead>
<tbody>
${rows}
</tbody></table></body></html>
`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: 'datasets/nab' },
      origins: { type: 'string', default: '12' },
      'horizon-minutes': { type: 'string', default: '30' },
      out: { type: 'string', default: 'bench/results' },
      /** Files to plot: names containing any of these comma-separated parts. */
      plots: { type: 'string', default: 'nyc_taxi,cpu_utilization_asg,art_daily_jumpsup,speed_6005' },
    },
  });
  const dataDir = resolve(values.data);
  const originCount = Number(values.origins);
  const horizonMinutes = Number(values['horizon-minutes']);
  if (!Number.isInteger(originCount) || originCount < 1)
    throw new Error(`--origins (${values.origins}) must be a positive integer`);
  const files = await csvFiles(dataDir);
  if (files.length === 0) throw new Error(`--data (${dataDir}) holds no CSV files`);

  const plotParts = values.plots.split(',').filter(Boolean);
  const scores: FileScore[] = [];
  const plots: PlotCase[] = [];
  console.log(
    `${'file'.padEnd(58)} ${'step'.padStart(5)} ${'H'.padStart(3)} ${'sMAPE'.padStart(8)} ${'naive'.padStart(8)} ${'MASE'.padStart(7)} ${'naiveMASE'.padStart(9)} mstl/naive`,
  );
  for (const path of files) {
    const name = relative(dataDir, path);
    const series = readLenient(name, await readFile(path, 'utf8'));
    const { score, skipped, plot } = await evaluateFile(name, series, horizonMinutes, originCount);
    if (!score) {
      console.log(`${name.padEnd(58)} skipped: ${skipped}`);
      continue;
    }
    scores.push(score);
    if (plot && plotParts.some((part) => name.includes(part))) plots.push(plot);
    console.log(
      `${name.padEnd(58)} ${String(score.stepMinutes).padStart(5)} ${String(score.horizonPoints).padStart(3)} ${score.smape.toFixed(2).padStart(8)} ${score.seasonalNaiveSmape.toFixed(2).padStart(8)} ${(score.mase?.toFixed(3) ?? 'n/a').padStart(7)} ${(score.seasonalNaiveMase?.toFixed(3) ?? 'n/a').padStart(9)} ${score.chosen.mstl}/${score.chosen['seasonal-naive']}`,
    );
  }

  const result = summarise(scores, horizonMinutes);
  const naiveMases = scores.filter((s) => s.seasonalNaiveMase !== undefined).map((s) => s.seasonalNaiveMase!);
  console.log(
    `\n${scores.length} files, ${originCount} origins each, horizon ${horizonMinutes} min\n` +
      `                 sMAPE %   MASE\n` +
      `forecast (auto)  ${result.smape.toFixed(2).padStart(7)}  ${result.mase.toFixed(3)}\n` +
      `seasonal naive   ${result.seasonalNaiveSmape.toFixed(2).padStart(7)}  ${mean(naiveMases).toFixed(3)}`,
  );
  const out = resolve(values.out);
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'forecast.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(join(out, 'forecast.html'), renderHtml(result, scores, plots));
  console.log(`wrote ${join(out, 'forecast.json')} and forecast.html`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
