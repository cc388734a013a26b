/**
 * Scores a detector's NAB results again, without running the detector: the results this runner
 * wrote (`OUT/<detector>`) or those NAB keeps for every published detector (`NAB/results/<name>`).
 *
 *   tsx bench/nab-score.ts --results DIR --windows FILE [--out DIR] [--files GLOB] [--alert-threshold X]
 *
 * Prints the same tables as bench/nab.ts and writes OUT/report.html and OUT/nab.json (OUT defaults
 * to the results folder's parent). `--alert-threshold` sets the score at which the detector alerts
 * in the comparison with the static rule; the NAB profiles keep their own swept thresholds.
 */
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readNabResults, scoreNabRun } from './nab-runner.js';
import { reportNabRun } from './nab-summary.js';

const USAGE =
  'usage: tsx bench/nab-score.ts --results DIR --windows FILE [--out DIR] [--files GLOB] [--alert-threshold X]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      results: { type: 'string' },
      windows: { type: 'string' },
      out: { type: 'string' },
      files: { type: 'string' },
      'alert-threshold': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.results || !values.windows) {
    console.error(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  let alertThreshold: number | undefined;
  if (values['alert-threshold'] !== undefined) {
    alertThreshold = Number(values['alert-threshold']);
    if (values['alert-threshold'].trim() === '' || !Number.isFinite(alertThreshold))
      throw new Error(`'--alert-threshold' (${values['alert-threshold']}) must be a number`);
  }
  const resultsDir = resolve(values.results);
  const { detector, files } = await readNabResults(resultsDir, values.windows, values.files);
  const outDir = values.out ?? dirname(resultsDir);
  const result = await scoreNabRun({
    detector,
    files,
    outDir,
    ...(alertThreshold !== undefined ? { alertThreshold } : {}),
  });
  await reportNabRun(result, join(outDir, 'nab.json'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
