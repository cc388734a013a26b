import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseTimestamp } from '../ml/series.js';

/** NAB's label file: for each `<category>/<file>.csv`, windows as `[start, end]` timestamps. */
export type NabWindows = Readonly<Record<string, readonly (readonly [number, number])[]>>;

/** Relative paths (`<category>/<file>.csv`) of every CSV under `dataDir/data`, sorted. */
export async function listNabFiles(dataDir: string, filter?: string): Promise<string[]> {
  const root = join(dataDir, 'data');
  const categories = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory());
  const files: string[] = [];
  for (const category of categories) {
    for (const entry of await readdir(join(root, category.name), { withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.csv')) files.push(`${category.name}/${entry.name}`);
    }
  }
  const match = filter === undefined ? () => true : fileMatcher(filter);
  return files.filter(match).sort();
}

/** A glob (`*` any run of characters, `?` one) or, without wildcards, a substring of the relative path. */
export function fileMatcher(pattern: string): (relativePath: string) => boolean {
  if (!/[*?]/.test(pattern)) return (p) => p.includes(pattern);
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const re = new RegExp(`^${source}$`);
  return (p) => re.test(p) || re.test(p.slice(p.indexOf('/') + 1));
}

export async function readNabWindows(windowsFile: string): Promise<NabWindows> {
  let raw: Record<string, [string, string][]>;
  try {
    raw = JSON.parse(await readFile(windowsFile, 'utf8')) as Record<string, [string, string][]>;
  } catch (err) {
    throw new Error(`windows file '${windowsFile}' cannot be read as JSON: ${(err as Error).message}`);
  }
  const windows: Record<string, [number, number][]> = {};
  for (const [file, list] of Object.entries(raw)) {
    windows[file] = list.map(([start, end]) => {
      const s = parseTimestamp(start);
      const e = parseTimestamp(end);
      if (Number.isNaN(s) || Number.isNaN(e)) {
        throw new Error(
          `windows file '${windowsFile}': window [${start}, ${end}] of '${file}' is not a time range`,
        );
      }
      return [s, e];
    });
  }
  return windows;
}

/**
 * Reads a NAB data file (`timestamp,value` with a header) in file order. Unlike `parseCsvSeries`,
 * repeated and out-of-order timestamps are kept: a few NAB files have them
 * (exchange-2_cpc_results.csv repeats a time, machine_temperature_system_failure.csv steps back an
 * hour), and NAB feeds and scores every row in file order, so dropping one would shift row indices.
 */
export function parseNabCsv(
  name: string,
  text: string,
): { timestampsMs: Float64Array; values: Float64Array } {
  const { timestampsMs, columns } = parseColumns(name, text, ['value']);
  return { timestampsMs, values: columns[0]! };
}

/**
 * Reads a detector's results file in NAB's format (`timestamp,value,anomaly_score`, any further
 * columns ignored), as this runner and NAB's own detectors write it.
 */
export function parseNabResultsCsv(
  name: string,
  text: string,
): { timestampsMs: Float64Array; values: Float64Array; scores: Float64Array } {
  const { timestampsMs, columns } = parseColumns(name, text, ['value', 'anomaly_score']);
  return { timestampsMs, values: columns[0]!, scores: columns[1]! };
}

function parseColumns(
  name: string,
  text: string,
  wanted: readonly string[],
): { timestampsMs: Float64Array; columns: Float64Array[] } {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const tCol = header.indexOf('timestamp');
  const cols = wanted.map((w) => header.indexOf(w));
  if (tCol < 0 || cols.some((c) => c < 0)) {
    throw new Error(
      `file '${name}': the header (${lines[0]}) must have ${['timestamp', ...wanted].map((w) => `'${w}'`).join(', ')}`,
    );
  }
  const timestampsMs = new Float64Array(lines.length - 1);
  const columns = wanted.map(() => new Float64Array(lines.length - 1));
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i]!.split(',');
    const t = parseTimestamp(cells[tCol]?.trim() ?? '');
    if (!Number.isFinite(t))
      throw new Error(`file '${name}': line ${i + 1} has timestamp '${cells[tCol]}', not a time`);
    timestampsMs[i - 1] = t;
    for (const [k, c] of cols.entries()) {
      const raw = cells[c]?.trim() ?? '';
      // Number('') is 0: an empty cell would pass as a zero.
      const v = raw === '' ? Number.NaN : Number(raw);
      if (!Number.isFinite(v))
        throw new Error(`file '${name}': line ${i + 1} has ${wanted[k]} '${cells[c]}', not a number`);
      columns[k]![i - 1] = v;
    }
  }
  return { timestampsMs, columns };
}
