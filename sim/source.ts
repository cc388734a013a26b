import type { SourceSpec } from '../activities/sources.js';
import type { Series } from '../ml/series.js';
import { backfillHistory, findWorkload } from './workloads.js';

/** The history a `simulated` detector source trains on: `days` of one workload's metric ending at `endMs`. */
export function simulateSource(source: Extract<SourceSpec, { kind: 'simulated' }>, endMs: number): Series {
  const [series] = backfillHistory({
    seed: source.seed,
    startMs: endMs - source.days * 86_400_000,
    endMs,
    stepMs: source.stepSeconds * 1000,
    workloads: [findWorkload(source.workload)],
    metrics: [source.metric],
    ...(source.rateWindowSeconds !== undefined ? { rateWindowMs: source.rateWindowSeconds * 1000 } : {}),
  });
  if (!series) throw new Error(`the simulator produced no series for ${source.workload} ${source.metric}`);
  return series;
}
