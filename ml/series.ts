/**
 * A univariate time series: timestamps in epoch milliseconds, strictly increasing, and finite values.
 * Typed arrays keep a month of 10-second samples (~260k points) at 4 MB instead of tens of MB of objects.
 */
export interface Series {
  readonly name: string;
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
}

/** The input that failed validation is named in the message, with the offending value. */
export class SeriesError extends Error {
  override readonly name = 'SeriesError';
}

export function createSeries(
  name: string,
  timestampsMs: ArrayLike<number>,
  values: ArrayLike<number>,
): Series {
  if (timestampsMs.length !== values.length) {
    throw new SeriesError(
      `series '${name}': 'timestamps' has ${timestampsMs.length} entries but 'values' has ${values.length}`,
    );
  }
  const ts = Float64Array.from(timestampsMs);
  const vs = Float64Array.from(values);
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    const v = vs[i]!;
    if (!Number.isFinite(t))
      throw new SeriesError(`series '${name}': timestamps[${i}] (${t}) is not a finite time`);
    if (!Number.isFinite(v))
      throw new SeriesError(`series '${name}': values[${i}] (${v}) is not a finite number`);
    if (i > 0 && t <= ts[i - 1]!) {
      throw new SeriesError(
        `series '${name}': timestamps[${i}] (${new Date(t).toISOString()}) is not after timestamps[${i - 1}] (${new Date(ts[i - 1]!).toISOString()})`,
      );
    }
  }
  return { name, timestampsMs: ts, values: vs };
}

/** The rows in [start, end) as a new series sharing no memory with the input. */
export function sliceSeries(series: Series, start: number, end = series.values.length): Series {
  return {
    name: series.name,
    timestampsMs: series.timestampsMs.slice(start, end),
    values: series.values.slice(start, end),
  };
}

/**
 * The series without the points that lie within `settleMs` after a gap (two timestamps more than
 * 1.5 steps apart). Where Prometheus missed scrapes, `rate(x[W])` evaluated in the first W after
 * the gap sees only the samples since, extrapolates them over part of its window and reads low:
 * a dip that is the outage's, not the workload's.
 */
export function dropSettlingAfterGaps(
  series: Series,
  stepMs: number,
  settleMs: number,
): { series: Series; dropped: number } {
  const n = series.values.length;
  if (settleMs <= 0 || n < 2) return { series, dropped: 0 };
  const keep = new Uint8Array(n).fill(1);
  let dropped = 0;
  let settleUntil = Number.NEGATIVE_INFINITY;
  for (let i = 1; i < n; i++) {
    const t = series.timestampsMs[i]!;
    if (t - series.timestampsMs[i - 1]! > 1.5 * stepMs) settleUntil = t + settleMs;
    if (t < settleUntil) {
      keep[i] = 0;
      dropped++;
    }
  }
  if (dropped === 0) return { series, dropped: 0 };
  const timestampsMs = new Float64Array(n - dropped);
  const values = new Float64Array(n - dropped);
  for (let i = 0, j = 0; i < n; i++) {
    if (!keep[i]) continue;
    timestampsMs[j] = series.timestampsMs[i]!;
    values[j++] = series.values[i]!;
  }
  return { series: { name: series.name, timestampsMs, values }, dropped };
}

/** The median spacing between timestamps, robust to the odd missed scrape. */
export function medianStepMs(series: Series): number {
  const n = series.timestampsMs.length;
  if (n < 2) return 0;
  const gaps = new Float64Array(n - 1);
  for (let i = 1; i < n; i++) gaps[i - 1] = series.timestampsMs[i]! - series.timestampsMs[i - 1]!;
  gaps.sort();
  return gaps[Math.floor(gaps.length / 2)]!;
}

/**
 * Parses NAB-style CSV (`timestamp,value` with a header). Timestamps are ISO-like
 * (`2014-04-01 00:00:00`, read as UTC) or epoch seconds/milliseconds.
 */
export function parseCsvSeries(name: string, text: string): Series {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length === 0) throw new SeriesError(`series '${name}': the CSV is empty`);
  const header = lines[0]!.split(',').map((h) => h.trim().toLowerCase());
  const tCol = header.indexOf('timestamp');
  const vCol = header.indexOf('value');
  if (tCol < 0 || vCol < 0) {
    throw new SeriesError(
      `series '${name}': the CSV header (${lines[0]}) must have 'timestamp' and 'value' columns`,
    );
  }
  const ts: number[] = [];
  const vs: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i]!.split(',');
    const rawT = cells[tCol]?.trim() ?? '';
    const rawV = cells[vCol]?.trim() ?? '';
    const t = parseTimestamp(rawT);
    if (Number.isNaN(t))
      throw new SeriesError(`series '${name}': line ${i + 1} has timestamp '${rawT}', not a time`);
    const v = Number(rawV);
    if (rawV === '' || !Number.isFinite(v)) {
      throw new SeriesError(`series '${name}': line ${i + 1} has value '${rawV}', not a finite number`);
    }
    ts.push(t);
    vs.push(v);
  }
  return createSeries(name, ts, vs);
}

export function parseTimestamp(raw: string): number {
  if (/^\d+(\.\d+)?$/.test(raw)) {
    const n = Number(raw);
    // Ten digits or fewer is epoch seconds until the year 2286.
    return n < 1e11 ? n * 1000 : n;
  }
  const iso = raw.includes('T') ? raw : raw.replace(' ', 'T');
  const withZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? iso : `${iso}Z`;
  return Date.parse(withZone);
}

/** Formats epoch milliseconds the way NAB writes timestamps: `YYYY-MM-DD HH:MM:SS` in UTC. */
export function formatNabTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}
