import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { nabProbationaryPoints } from '../ml/evaluation/nab-scorer.js';
import { detectorFactory } from './detectors.js';
import { parseNabCsv } from './nab-corpus.js';

/** One file to run: read it, feed the detector point by point in time order, return the scores. */
export interface NabTask {
  readonly dataDir: string;
  readonly relativePath: string;
  readonly detector: string;
}

export interface NabTaskResult {
  readonly relativePath: string;
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
  readonly scores: Float64Array;
  readonly probationaryPoints: number;
  readonly detectMs: number;
  readonly error?: string;
}

export async function runNabTask(task: NabTask): Promise<NabTaskResult> {
  const text = await readFile(join(task.dataDir, 'data', task.relativePath), 'utf8');
  const series = parseNabCsv(task.relativePath, text);
  const rows = series.values.length;
  const probationaryPoints = nabProbationaryPoints(rows);
  const detector = detectorFactory(task.detector)({ seriesName: task.relativePath, probationaryPoints });
  const scores = new Float64Array(rows);
  const started = performance.now();
  for (let i = 0; i < rows; i++) scores[i] = detector.step(series.timestampsMs[i]!, series.values[i]!);
  return {
    relativePath: task.relativePath,
    timestampsMs: series.timestampsMs,
    values: series.values,
    scores,
    probationaryPoints,
    detectMs: performance.now() - started,
  };
}

parentPort?.on('message', (task: NabTask) => {
  runNabTask(task).then(
    (result) =>
      parentPort?.postMessage(result, [
        result.timestampsMs.buffer as ArrayBuffer,
        result.values.buffer as ArrayBuffer,
        result.scores.buffer as ArrayBuffer,
      ]),
    (err: unknown) =>
      parentPort?.postMessage({
        relativePath: task.relativePath,
        error: err instanceof Error ? err.message : String(err),
      }),
  );
});
