import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createPrometheusClient, type PrometheusClient, PrometheusError } from '../clients/prometheus.js';
import { longestRangeMs } from '../clients/promql-catalogue.js';
import {
  dropSettlingAfterGaps,
  parseCsvSeries,
  parseTimestamp,
  type Series,
  SeriesError,
  sliceSeries,
} from '../ml/series.js';
import { type DetectorSpec, parseDetectorSpec, SpecError } from '../ml/spec.js';

export type SourceSpec = DetectorSpec['source'];

/** A series read for training, with the labelled windows when the source has them (for reporting only). */
export interface CollectedSeries {
  readonly series: Series;
  readonly windowsMs?: [number, number][];
}

export interface SourceReaders {
  read(source: SourceSpec, endMs: number): Promise<CollectedSeries>;
  /** The points of the source with timestamps in [startMs, endMs], for scoring. */
  readWindow(source: SourceSpec, startMs: number, endMs: number): Promise<Series>;
}

export interface SourceReaderDeps {
  /** Folder that relative CSV paths are resolved against. @default process.cwd() */
  readonly baseDir?: string;
  /** Prometheus to use when a source names none; from PROMETHEUS_URL. */
  readonly defaultPrometheusUrl?: string;
  readonly prometheus?: (url: string) => PrometheusClient;
  /** Generates the built-in simulated cluster's history. */
  readonly simulate?: (source: Extract<SourceSpec, { kind: 'simulated' }>, endMs: number) => Series;
}

/** Non-retryable: the input must change before another attempt can succeed. */
export function badInput(message: string, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ message, type: 'BadInput', nonRetryable: true, cause: cause as Error });
}

/** A detector spec with its defaults, or a non-retryable failure listing every problem. */
export function parseSpecOrFail(input: unknown): DetectorSpec {
  try {
    return parseDetectorSpec(input);
  } catch (err) {
    if (err instanceof SpecError) throw badInput(err.message, err);
    throw err;
  }
}

export function createSourceReaders(deps: SourceReaderDeps = {}): SourceReaders {
  const baseDir = deps.baseDir ?? process.cwd();
  const prometheusFor = deps.prometheus ?? ((url: string) => createPrometheusClient({ url }));

  const readers: SourceReaders = {
    async readWindow(source, startMs, endMs) {
      switch (source.kind) {
        case 'csv': {
          // A CSV source scores as a replay of the file: the window is the rows in range.
          const { series } = await readCsv(
            resolve(baseDir, source.path),
            { ...source, windowsPath: undefined },
            baseDir,
          );
          return windowOf(series, startMs, endMs);
        }
        case 'simulated': {
          if (!deps.simulate) throw badInput("source kind 'simulated' is not available in this worker");
          return windowOf(
            deps.simulate({ ...source, days: (endMs - startMs) / 86_400_000 }, endMs),
            startMs,
            endMs,
          );
        }
        case 'prometheus':
          return (await readers.read({ ...source, lookbackHours: (endMs - startMs) / 3_600_000 }, endMs))
            .series;
      }
    },

    async read(source, endMs) {
      switch (source.kind) {
        case 'csv':
          return readCsv(resolve(baseDir, source.path), source, baseDir);
        case 'simulated': {
          if (!deps.simulate) throw badInput("source kind 'simulated' is not available in this worker");
          const end = source.endTime !== undefined ? Date.parse(source.endTime) : endMs;
          if (!Number.isFinite(end)) {
            throw badInput(`'source.endTime' (${source.endTime}) is not a valid UTC time`);
          }
          return { series: deps.simulate(source, end) };
        }
        case 'prometheus': {
          const url = source.url ?? deps.defaultPrometheusUrl;
          if (!url) {
            throw badInput("source kind 'prometheus' needs 'source.url' or the worker's PROMETHEUS_URL");
          }
          const startMs = endMs - source.lookbackHours * 3_600_000;
          let result: Series[];
          try {
            result = await prometheusFor(url).queryRange({
              query: source.query,
              startMs,
              endMs,
              stepSeconds: source.stepSeconds,
            });
          } catch (err) {
            if (err instanceof PrometheusError && !err.retryable) throw badInput(err.message, err);
            throw err;
          }
          if (result.length !== 1) {
            throw badInput(
              `'source.query' (${source.query}) returned ${result.length} series; a detector source needs exactly one (aggregate with sum by or pick one with a label matcher)`,
            );
          }
          const settleMs = (source.gapSettleSeconds ?? longestRangeMs(source.query) / 1000) * 1000;
          return { series: dropSettlingAfterGaps(result[0]!, source.stepSeconds * 1000, settleMs).series };
        }
      }
    },
  };
  return readers;
}

function windowOf(series: Series, startMs: number, endMs: number): Series {
  let from = 0;
  while (from < series.values.length && series.timestampsMs[from]! < startMs) from++;
  let to = from;
  while (to < series.values.length && series.timestampsMs[to]! <= endMs) to++;
  return sliceSeries(series, from, to);
}

async function readCsv(
  path: string,
  source: Extract<SourceSpec, { kind: 'csv' }>,
  baseDir: string,
): Promise<CollectedSeries> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw badInput(`'source.path' (${source.path}) cannot be read: ${(err as Error).message}`, err);
  }
  let series: Series;
  try {
    series = parseCsvSeries(source.path, text);
  } catch (err) {
    if (err instanceof SeriesError) throw badInput(err.message, err);
    throw err;
  }
  if (!source.windowsPath) return { series };

  let windows: Record<string, [string, string][]>;
  try {
    windows = JSON.parse(await readFile(resolve(baseDir, source.windowsPath), 'utf8'));
  } catch (err) {
    throw badInput(
      `'source.windowsPath' (${source.windowsPath}) is not a readable JSON file: ${(err as Error).message}`,
      err,
    );
  }
  const key = source.windowsKey ?? source.path;
  const entry = windows[key];
  if (!entry) throw badInput(`'source.windowsKey' (${key}) is not a key of ${source.windowsPath}`);
  return { series, windowsMs: entry.map(([a, b]) => [parseTimestamp(a), parseTimestamp(b)]) };
}
