import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSeries, type Series } from '../ml/series.js';
import { sha256, writeFileAtomic } from './atomic-file.js';

/**
 * Datasets and intermediate artifacts, stored as files and passed between activities by id, so
 * that no array of points ever travels through workflow history.
 */
export interface ArtifactStore {
  putSeries(series: Series, meta?: Record<string, unknown>): Promise<string>;
  getSeries(id: string): Promise<Series>;
  putJson(kind: string, value: unknown): Promise<string>;
  getJson<T>(id: string): Promise<T>;
}

export class ArtifactNotFoundError extends Error {
  override readonly name = 'ArtifactNotFoundError';
}

interface StoredSeries {
  name: string;
  timestampsMs: number[];
  values: number[];
  meta: Record<string, unknown>;
}

const ID_PATTERN = /^[a-z]+-[0-9a-f-]{36}$/;

export function createFileArtifactStore(root: string): ArtifactStore {
  const pathOf = (id: string) => {
    if (!ID_PATTERN.test(id))
      throw new ArtifactNotFoundError(`artifact id '${id}' is not an id this store issued`);
    return join(root, 'artifacts', `${id}.json`);
  };
  const write = async (kind: string, value: unknown) => {
    const id = `${kind}-${randomUUID()}`;
    const body = JSON.stringify(value);
    await writeFileAtomic(pathOf(id), body);
    await writeFileAtomic(`${pathOf(id)}.sha256`, sha256(body));
    return id;
  };
  const read = async (id: string) => {
    let body: string;
    try {
      body = await readFile(pathOf(id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new ArtifactNotFoundError(`artifact '${id}' does not exist`);
      throw err;
    }
    const expected = (await readFile(`${pathOf(id)}.sha256`, 'utf8')).trim();
    if (sha256(body) !== expected)
      throw new Error(`artifact '${id}' is corrupt: its checksum does not match`);
    return JSON.parse(body) as unknown;
  };

  return {
    putSeries: (series, meta = {}) =>
      write('series', {
        name: series.name,
        timestampsMs: Array.from(series.timestampsMs),
        values: Array.from(series.values),
        meta,
      } satisfies StoredSeries),
    async getSeries(id) {
      const stored = (await read(id)) as StoredSeries;
      return createSeries(stored.name, stored.timestampsMs, stored.values);
    },
    putJson: (kind, value) => write(kind, value),
    getJson: async <T>(id: string) => (await read(id)) as T,
  };
}
