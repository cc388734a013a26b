import { createRandom, normal } from '../random.js';
import type { Series } from '../series.js';

/** An anomalous stretch of a series, as indices [start, end] inclusive. */
export interface EventSpan {
  readonly start: number;
  readonly end: number;
}

/** Event-level agreement of flags with anomalous spans, the way an on-call engineer counts alerts. */
export interface EventMetrics {
  readonly events: number;
  readonly detectedEvents: number;
  /** Maximal runs of flags that touch no event: each one is a page nobody needed. */
  readonly falseAlarms: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Share of points flagged. */
  readonly flaggedRate: number;
}

/**
 * @param gracePoints flags this many points after an event still belong to it: rolling features
 *   stay disturbed until the anomaly leaves their window, and that echo is not a new alarm.
 */
export function eventMetrics(
  flags: ArrayLike<boolean>,
  events: readonly EventSpan[],
  gracePoints = 0,
): EventMetrics {
  const n = flags.length;
  const inEvent = new Uint8Array(n);
  for (const e of events) {
    for (let i = Math.max(0, e.start); i <= Math.min(n - 1, e.end + gracePoints); i++) inEvent[i] = 1;
  }

  let detectedEvents = 0;
  for (const e of events) {
    for (let i = Math.max(0, e.start); i <= Math.min(n - 1, e.end); i++) {
      if (flags[i]) {
        detectedEvents++;
        break;
      }
    }
  }

  let falseAlarms = 0;
  let flagged = 0;
  let inRun = false;
  for (let i = 0; i < n; i++) {
    if (flags[i]) flagged++;
    const falseFlag = Boolean(flags[i]) && inEvent[i] === 0;
    if (falseFlag && !inRun) falseAlarms++;
    inRun = falseFlag;
  }

  const recall = events.length > 0 ? detectedEvents / events.length : 1;
  const precision = detectedEvents + falseAlarms > 0 ? detectedEvents / (detectedEvents + falseAlarms) : 1;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return {
    events: events.length,
    detectedEvents,
    falseAlarms,
    precision,
    recall,
    f1,
    flaggedRate: n > 0 ? flagged / n : 0,
  };
}

export interface InjectionOptions {
  /** Anomalies planted per 1,000 points. @default 2 */
  perThousand?: number;
  /** Spike height and level-shift size in robust standard deviations of the series. @default 6 */
  magnitude?: number;
  seed?: number;
}

/**
 * Plants synthetic anomalies (spikes, level shifts, variance bursts) into a copy of a series and
 * returns where they are. Comparing models by how many planted anomalies they find and how many
 * false alarms they raise on the same copy needs no human labels, so champion and challenger can
 * be compared on any workload.
 */
export function injectAnomalies(
  series: Series,
  options: InjectionOptions = {},
): { series: Series; events: EventSpan[] } {
  const random = createRandom(options.seed ?? 7);
  const n = series.values.length;
  const values = Float64Array.from(series.values);
  const scale = robustScale(values);
  const magnitude = (options.magnitude ?? 6) * scale;
  const count = Math.max(1, Math.round((n * (options.perThousand ?? 2)) / 1000));
  const spacing = Math.floor(n / (count + 1));
  const events: EventSpan[] = [];
  for (let k = 1; k <= count; k++) {
    const at = k * spacing;
    const kind = k % 3;
    const sign = random() < 0.5 ? -1 : 1;
    const length = kind === 0 ? 1 : Math.max(3, Math.min(30, Math.floor(spacing / 4)));
    const end = Math.min(n - 1, at + length - 1);
    for (let i = at; i <= end; i++) {
      if (kind === 0) values[i] = values[i]! + sign * magnitude;
      else if (kind === 1) values[i] = values[i]! + sign * magnitude * 0.75;
      else values[i] = values[i]! + normal(random) * magnitude * 0.75;
    }
    events.push({ start: at, end });
  }
  return { series: { name: series.name, timestampsMs: series.timestampsMs, values }, events };
}

/** 1.4826 × median absolute deviation, falling back to the standard deviation on flat series. */
export function robustScale(values: ArrayLike<number>): number {
  const sorted = Float64Array.from(values).sort();
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const deviations = Float64Array.from(sorted, (v) => Math.abs(v - median)).sort();
  const mad = 1.4826 * (deviations[Math.floor(deviations.length / 2)] ?? 0);
  if (mad > 1e-12) return mad;
  let sum = 0;
  let sumSq = 0;
  for (const v of sorted) {
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / Math.max(1, sorted.length);
  const std = Math.sqrt(Math.max(0, sumSq / Math.max(1, sorted.length) - mean * mean));
  return std > 1e-12 ? std : Math.max(Math.abs(median) * 0.01, 1);
}

/** Indices whose timestamps fall inside any labelled [startMs, endMs] window. */
export function windowsToEvents(
  timestampsMs: Float64Array,
  windowsMs: readonly [number, number][],
): EventSpan[] {
  const events: EventSpan[] = [];
  for (const [startMs, endMs] of windowsMs) {
    let start = -1;
    let end = -1;
    for (let i = 0; i < timestampsMs.length; i++) {
      const t = timestampsMs[i]!;
      if (t >= startMs && t <= endMs) {
        if (start < 0) start = i;
        end = i;
      }
    }
    if (start >= 0) events.push({ start, end });
  }
  return events;
}
