/**
 * Runs a streaming detector over the Numenta Anomaly Benchmark and scores it the way NAB does.
 *
 *   tsx bench/nab.ts --data DIR --windows FILE --out DIR [--detector NAME] [--files GLOB]
 *
 * Writes NAB-format results under OUT/<detector>/, OUT/report.html and bench/results/nab.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { NAB_PROFILE_NAMES } from '../ml/evaluation/nab-scorer.js';
import { DETECTORS } from './detectors.js';
import { PUBLISHED_STANDARD_SCORES } from './nab-report.js';
import { type NabRunResult, runNabBenchmark } from './nab-runner.js';
import { type NabTarget, nabTargets } from './nab-targets.js';

const USAGE = `usage: tsx bench/nab.ts --data DIR --windows FILE --out DIR [--detector NAME] [--files GLOB] [--workers N]
  detectors: ${Object.keys(DETECTORS).join(', ')}`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      windows: { type: 'string' },
      out: { type: 'string' },
      detector: { type: 'string', default: 'windowedGaussian' },
      files: { type: 'string' },
      workers: { type: 'string', default: '2' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.data || !values.windows || !values.out) {
    console.error(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 0)
    throw new Error(`'--workers' (${values.workers}) must be a whole number`);

  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { format: 'NAB {bar} {value}/{total} files | {file}', stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const result = await runNabBenchmark({
    dataDir: values.data,
    windowsFile: values.windows,
    outDir: values.out,
    detector: values.detector,
    files: values.files,
    workers,
    onStart: (total) => bar?.start(total, 0, { file: '' }),
    onFileDone: (done, total, file) => {
      if (bar) bar.update(done, { file });
      else console.error(`[${done}/${total}] ${file}`);
    },
  });
  bar?.stop();

  const targets = nabTargets(result);
  printTables(result, targets);
  const summaryPath = join(dirname(fileURLToPath(import.meta.url)), 'results', 'nab.json');
  await mkdir(dirname(summaryPath), { recursive: true });
  await writeFile(summaryPath, `${JSON.stringify(summary(result, targets), null, 2)}\n`);
  console.log(`\nreport: ${result.reportPath}\nsummary: ${summaryPath}`);
}

function summary(result: NabRunResult, targets: readonly NabTarget[]) {
  const s = result.staticThreshold;
  return {
    detector: result.detector,
    scores: Object.fromEntries(
      NAB_PROFILE_NAMES.map((p) => [p, round(result.corpus.profiles[p]!.normalisedScore, 2)]),
    ),
    files: result.corpus.files,
    seconds: round(result.seconds, 1),
    staticThreshold: {
      files: s.files,
      windows: s.windows,
      scoredDays: round(s.scoredDays, 1),
      episodeGapMinutes: s.episodeGapMinutes,
      detector: s.detector,
      staticThreshold: s.staticThreshold,
      comparableWindows: s.comparableWindows,
      medianGainMinutes: s.medianGainMinutes,
      gradualWindows: s.gradualWindows,
      medianGainOnGradualMinutes: s.medianGainOnGradualMinutes,
    },
    targets,
  };
}

function printTables(result: NabRunResult, targets: readonly NabTarget[]): void {
  console.log(
    `\nNAB: ${result.detector}, ${result.corpus.files} files, ${result.corpus.windows} windows, ${result.seconds.toFixed(1)} s`,
  );
  console.table(
    Object.fromEntries(
      NAB_PROFILE_NAMES.map((p) => {
        const r = result.corpus.profiles[p]!;
        return [
          p,
          { normalised: round(r.normalisedScore, 1), raw: round(r.rawScore, 3), threshold: r.threshold },
        ];
      }),
    ),
  );
  console.table(
    Object.fromEntries([
      [
        `${result.detector} (this run)`,
        { standard: round(result.corpus.profiles.standard!.normalisedScore, 1) },
      ],
      ...PUBLISHED_STANDARD_SCORES.map((p) => [`${p.detector} (published)`, { standard: p.standard }]),
    ]),
  );
  const s = result.staticThreshold;
  const row = (v: typeof s.detector) => ({
    recall: `${(100 * v.recall).toFixed(1)}%`,
    'false alarms/day': round(v.falseAlarmsPerDay, 3),
    'false positive rows/day': round(v.falsePositiveRowsPerDay, 3),
    'median delay (min)': v.medianDelayMinutes === null ? null : round(v.medianDelayMinutes, 0),
  });
  console.log(
    `\nAgainst a static threshold at equal recall (${s.files} labelled files, ${s.scoredDays.toFixed(1)} days):`,
  );
  console.table({ [result.detector]: row(s.detector), 'static threshold': row(s.staticThreshold) });
  const gain = (minutes: number | null) => (minutes === null ? '–' : `${minutes.toFixed(0)} min`);
  console.log(
    `detection earlier than the static rule, median: ${gain(s.medianGainMinutes)} over ${s.comparableWindows} windows both catch after it is quiet at their start; ${gain(s.medianGainOnGradualMinutes)} over the ${s.gradualWindows} of them that build up gradually`,
  );
  console.log('\nTargets:');
  console.table(
    Object.fromEntries(
      targets.map((t) => [t.target, { aim: t.aim, measured: t.measured, met: t.met ? 'yes' : 'NO' }]),
    ),
  );
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
