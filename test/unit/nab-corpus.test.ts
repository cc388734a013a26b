import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNabCsv, parseNabResultsCsv, readNabWindows } from '../../bench/nab-corpus.js';
import { readNabResults } from '../../bench/nab-runner.js';

describe('parseNabResultsCsv', () => {
  it('reads timestamp, value and anomaly_score in file order and ignores further columns', () => {
    const text = [
      'timestamp,value,anomaly_score,label,S(t)_standard',
      '2014-04-01 00:05:00,3.5,0.25,0,0',
      '2014-04-01 00:00:00,4,1,1,0.8',
    ].join('\n');
    const r = parseNabResultsCsv('r.csv', text);

    expect(Array.from(r.values)).toEqual([3.5, 4]);
    expect(Array.from(r.scores)).toEqual([0.25, 1]);
    // Out of order rows stay where they are: NAB scores rows in file order.
    expect(r.timestampsMs[1]! - r.timestampsMs[0]!).toBe(-300_000);
  });

  it('names the file, the line and the value that is not a number, an empty cell included', () => {
    const header = 'timestamp,value,anomaly_score';
    expect(() => parseNabResultsCsv('r.csv', `${header}\n2014-04-01 00:00:00,1,high`)).toThrow(
      "file 'r.csv': line 2 has anomaly_score 'high', not a number",
    );
    expect(() => parseNabResultsCsv('r.csv', `${header}\n2014-04-01 00:00:00,,0.5`)).toThrow(
      "file 'r.csv': line 2 has value '', not a number",
    );
    expect(() => parseNabResultsCsv('r.csv', `${header}\nyesterday,1,0.5`)).toThrow(
      "file 'r.csv': line 2 has timestamp 'yesterday', not a time",
    );
  });

  it('asks for the missing column by name', () => {
    expect(() => parseNabResultsCsv('r.csv', 'timestamp,value\n2014-04-01 00:00:00,1')).toThrow(
      "file 'r.csv': the header (timestamp,value) must have 'timestamp', 'value', 'anomaly_score'",
    );
    expect(() => parseNabCsv('d.csv', 'time,value\n2014-04-01 00:00:00,1')).toThrow(
      "file 'd.csv': the header (time,value) must have 'timestamp', 'value'",
    );
  });
});

describe('reading saved results and windows', () => {
  it('names the folder or file that cannot be read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nab-corpus-'));
    try {
      const windows = join(dir, 'windows.json');
      await writeFile(windows, '{"a/b.csv": [[');
      await expect(readNabWindows(windows)).rejects.toThrow(
        `windows file '${windows}' cannot be read as JSON`,
      );
      await writeFile(windows, '{}');
      await expect(readNabResults(join(dir, 'missing'), windows)).rejects.toThrow(
        `results folder '${join(dir, 'missing')}' cannot be read`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
