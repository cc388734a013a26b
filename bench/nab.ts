/**
 * Runs a streaming detector over the Numenta Anomaly Benchmark and scores it the way NAB does.
 *
 *   tsx bench/nab.ts --data DIR --windows FILE --out DIR [--detector NAME] [--files GLOB]
 *
 * Writes NAB-format results under OUT/<detector>/, OUT/report.html and bench/results/nab.json.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { DETECTORS } from './detectors.js';
import { runNabBenchmark } from './nab-runner.js';
import { reportNabRun } from './nab-summary.js';

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

  await reportNabRun(result, join(dirname(fileURLToPath(import.meta.url)), 'results', 'nab.json'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
