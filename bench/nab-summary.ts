import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { NAB_PROFILE_NAMES } from '../ml/evaluation/nab-scorer.js';
import { PUBLISHED_STANDARD_SCORES } from './nab-report.js';
import type { NabRunResult } from './nab-runner.js';
import { type NabTarget, nabTargets } from './nab-targets.js';

/** Prints a scored run's tables and writes its summary as JSON to `summaryPath`. */
export async function reportNabRun(result: NabRunResult, summaryPath: string): Promise<void> {
  const targets = nabTargets(result);
  printTables(result, targets);
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
    seconds: result.seconds === undefined ? null : round(result.seconds, 1),
    staticThreshold: {
      alertThreshold: result.alertThreshold,
      files: s.files,
      windows: s.windows,
      scoredDays: round(s.scoredDays, 1),
      episodeGapMinutes: s.episodeGapMinutes,
      falseAlarmPlaceOptions: s.falseAlarmPlaceOptions,
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
    `\nNAB: ${result.detector}, ${result.corpus.files} files, ${result.corpus.windows} windows, ${result.seconds === undefined ? 'scored from saved results' : `${result.seconds.toFixed(1)} s`}`,
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
  const o = s.falseAlarmPlaceOptions;
  console.log(
    `false alarms by where they start: the first ${o.startUpRows} scored rows, ${o.afterWindowLengths} window lengths after a window, ${o.beforeWindowLengths} before one, elsewhere:`,
  );
  const places = (v: typeof s.detector) => ({
    'start-up': v.falseAlarmPlaces.startUp,
    'after a window': v.falseAlarmPlaces.afterWindow,
    'before a window': v.falseAlarmPlaces.beforeWindow,
    elsewhere: v.falseAlarmPlaces.elsewhere,
  });
  console.table({ [result.detector]: places(s.detector), 'static threshold': places(s.staticThreshold) });
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
