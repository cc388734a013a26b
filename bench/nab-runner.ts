import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  type NabCorpusResult,
  nabProbationaryPoints,
  scoreNabCorpus,
  windowRowRanges,
} from '../ml/evaluation/nab-scorer.js';
import {
  type AlertComparisonSummary,
  compareWithStaticThreshold,
  windowMask,
} from '../ml/evaluation/static-threshold.js';
import { formatNabTimestamp } from '../ml/series.js';
import { fileMatcher, listNabFiles, parseNabResultsCsv, readNabWindows } from './nab-corpus.js';
import { renderNabReport } from './nab-report.js';
import { type NabTask, type NabTaskResult, runNabTask } from './nab-worker.js';

export interface NabRunOptions {
  /** A NAB checkout or copy: CSVs under `dataDir/data/<category>/`. */
  readonly dataDir: string;
  /** NAB's label file of windows per `<category>/<file>.csv`. */
  readonly windowsFile: string;
  /** Results, in NAB's layout, and `report.html` go here. */
  readonly outDir: string;
  readonly detector: string;
  /** A glob or substring that selects files by relative path. @default every file */
  readonly files?: string;
  /** Worker threads, a file per task; 0 runs in this thread. @default 2 */
  readonly workers?: number;
  readonly onStart?: (files: number) => void;
  readonly onFileDone?: (done: number, total: number, relativePath: string) => void;
}

export interface NabRunFile {
  readonly relativePath: string;
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
  readonly scores: Float64Array;
  readonly windows: readonly (readonly [number, number])[];
  readonly windowRows: readonly (readonly [number, number])[];
  readonly probationaryPoints: number;
}

export interface NabRunResult {
  readonly detector: string;
  readonly files: readonly NabRunFile[];
  readonly corpus: NabCorpusResult;
  readonly staticThreshold: AlertComparisonSummary;
  /** Scores at or above this were the detector's alerts in the comparison with the static rule. */
  readonly alertThreshold: number;
  /** Wall time of the run, detector and scoring; absent when saved results were scored again. */
  readonly seconds?: number;
  readonly reportPath: string;
}

/** Runs a detector over a NAB corpus, writes NAB-format results and an HTML report, and scores it. */
export async function runNabBenchmark(options: NabRunOptions): Promise<NabRunResult> {
  const started = performance.now();
  const [relativePaths, windows] = await Promise.all([
    listNabFiles(options.dataDir, options.files),
    readNabWindows(options.windowsFile),
  ]);
  if (relativePaths.length === 0) {
    throw new Error(`no CSV file under '${join(options.dataDir, 'data')}' matches '${options.files ?? '*'}'`);
  }
  for (const p of relativePaths) {
    if (!windows[p]) throw new Error(`windows file '${options.windowsFile}' has no entry for '${p}'`);
  }
  options.onStart?.(relativePaths.length);

  const tasks = relativePaths.map((relativePath) => ({
    dataDir: options.dataDir,
    relativePath,
    detector: options.detector,
  }));
  let done = 0;
  const results = await runTasks(tasks, options.workers ?? 2, (r) => {
    done++;
    options.onFileDone?.(done, tasks.length, r.relativePath);
  });

  const files: NabRunFile[] = results.map((r) => {
    const fileWindows = windows[r.relativePath] ?? [];
    return {
      relativePath: r.relativePath,
      timestampsMs: r.timestampsMs,
      values: r.values,
      scores: r.scores,
      windows: fileWindows,
      windowRows: windowRowRanges(r.relativePath, r.timestampsMs, fileWindows),
      probationaryPoints: r.probationaryPoints,
    };
  });
  await Promise.all(files.map((f) => writeResultsCsv(options.outDir, options.detector, f)));
  return scoreNabRun({ detector: options.detector, files, outDir: options.outDir, started });
}

export interface ScoreNabRunOptions {
  readonly detector: string;
  readonly files: readonly NabRunFile[];
  /** `report.html` goes here. */
  readonly outDir: string;
  /** `performance.now()` when the detector started; absent when scoring saved results. */
  readonly started?: number;
  /**
   * Scores at or above this are the detector's alerts in the comparison with the static rule.
   * @default the standard profile's threshold
   */
  readonly alertThreshold?: number;
}

/** Scores a run's files the NAB way, compares them with the static rule, and writes the report. */
export async function scoreNabRun(options: ScoreNabRunOptions): Promise<NabRunResult> {
  const { files, started } = options;
  const corpus = scoreNabCorpus(
    files.map((f) => ({
      name: f.relativePath,
      timestampsMs: f.timestampsMs,
      scores: f.scores,
      windows: f.windows,
    })),
  );
  const threshold = options.alertThreshold ?? corpus.profiles.standard!.threshold;
  const staticThreshold = compareWithStaticThreshold(
    files.map((f) => ({
      name: f.relativePath,
      timestampsMs: f.timestampsMs,
      values: f.values,
      windowRows: f.windowRows,
      probationaryPoints: f.probationaryPoints,
      detectorAlerts: Array.from(f.scores, (s) => s >= threshold),
    })),
  );
  const seconds = started === undefined ? undefined : (performance.now() - started) / 1000;

  const scored = {
    detector: options.detector,
    files,
    corpus,
    staticThreshold,
    alertThreshold: threshold,
    ...(seconds !== undefined ? { seconds } : {}),
  };
  const reportPath = join(options.outDir, 'report.html');
  await mkdir(options.outDir, { recursive: true });
  await writeFile(reportPath, renderNabReport(scored));
  return { ...scored, reportPath };
}

/**
 * Reads a detector's results in NAB's layout, `resultsDir/<category>/<detector>_<file>.csv` with
 * the detector named by the folder, as this runner writes them and as NAB keeps every published
 * detector's (`NAB/results/<detector>`), so they can be scored again without running anything.
 */
export async function readNabResults(
  resultsDir: string,
  windowsFile: string,
  filter?: string,
): Promise<{ detector: string; files: NabRunFile[] }> {
  const detector = basename(resultsDir);
  const windows = await readNabWindows(windowsFile);
  const prefix = `${detector}_`;
  const paths: { relativePath: string; path: string }[] = [];
  const categories = await readdir(resultsDir, { withFileTypes: true }).catch((err: unknown) => {
    throw new Error(`results folder '${resultsDir}' cannot be read: ${(err as Error).message}`);
  });
  for (const category of categories) {
    if (!category.isDirectory()) continue;
    for (const entry of await readdir(join(resultsDir, category.name), { withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.startsWith(prefix) || !entry.name.endsWith('.csv')) continue;
      paths.push({
        relativePath: `${category.name}/${entry.name.slice(prefix.length)}`,
        path: join(resultsDir, category.name, entry.name),
      });
    }
  }
  const match = filter === undefined ? () => true : fileMatcher(filter);
  const selected = paths
    .filter((p) => match(p.relativePath))
    .sort((a, b) => a.relativePath.localeCompare(b.relativePath));
  if (selected.length === 0) {
    throw new Error(
      `no results file '<category>/${prefix}<file>.csv' under '${resultsDir}' matches '${filter ?? '*'}'`,
    );
  }
  const files = await Promise.all(
    selected.map(async ({ relativePath, path }) => {
      const fileWindows = windows[relativePath];
      if (!fileWindows) throw new Error(`windows file '${windowsFile}' has no entry for '${relativePath}'`);
      const { timestampsMs, values, scores } = parseNabResultsCsv(path, await readFile(path, 'utf8'));
      return {
        relativePath,
        timestampsMs,
        values,
        scores,
        windows: fileWindows,
        windowRows: windowRowRanges(relativePath, timestampsMs, fileWindows),
        probationaryPoints: nabProbationaryPoints(values.length),
      };
    }),
  );
  return { detector, files };
}

/** NAB's results layout: `OUT/<detector>/<category>/<detector>_<file>.csv`. */
async function writeResultsCsv(outDir: string, detector: string, file: NabRunFile): Promise<void> {
  const [category, name] = file.relativePath.split('/') as [string, string];
  const path = join(outDir, detector, category, `${detector}_${name}`);
  const inWindow = windowMask(file.scores.length, file.windowRows);
  const lines = ['timestamp,value,anomaly_score,label'];
  for (let i = 0; i < file.scores.length; i++) {
    lines.push(
      `${formatNabTimestamp(file.timestampsMs[i]!)},${file.values[i]},${file.scores[i]},${inWindow[i]}`,
    );
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${lines.join('\n')}\n`);
}

/**
 * Runs tasks on up to `workers` threads at once, results in task order. Each file gets a thread of
 * its own: augurs' Prophet keeps state in its WebAssembly instance that shifts later fits in the
 * ninth digit, enough to move a detection across the threshold, so a thread shared with earlier
 * files would make a file's result depend on which files the scheduler gave that thread before.
 */
async function runTasks(
  tasks: readonly NabTask[],
  workers: number,
  onDone: (result: NabTaskResult) => void,
): Promise<NabTaskResult[]> {
  const results: NabTaskResult[] = new Array(tasks.length);
  if (workers <= 0) {
    for (const [i, task] of tasks.entries()) {
      results[i] = await runNabTask(task);
      onDone(results[i]);
    }
    return results;
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(workers, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        const worker = startWorker();
        try {
          results[i] = await runOnWorker(worker, tasks[i]!);
        } finally {
          await worker.terminate();
        }
        onDone(results[i]);
      }
    }),
  );
  return results;
}

function startWorker(): Worker {
  // The worker is TypeScript. Node 20 does not apply `--import` loaders to a worker's entry module,
  // so a small bootstrap registers tsx in the worker first, then imports the real entry.
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const api = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const entry = new URL('./nab-worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true });
}

function runOnWorker(worker: Worker, task: NabTask): Promise<NabTaskResult> {
  return new Promise((resolve, reject) => {
    const onMessage = (result: NabTaskResult) => {
      cleanup();
      if (result.error) reject(new Error(`file '${task.relativePath}': ${result.error}`));
      else resolve(result);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.postMessage(task);
  });
}
