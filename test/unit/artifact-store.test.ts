import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSeries } from '../../ml/series.js';
import {
  ArtifactNotFoundError,
  type ArtifactStore,
  createFileArtifactStore,
} from '../../registry/artifact-store.js';

describe('file artifact store', () => {
  let root: string;
  let store: ArtifactStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'artifact-store-'));
    store = createFileArtifactStore(root);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('returns a stored series exactly, as typed arrays', async () => {
    const series = createSeries('frontend-cpu', [1_000, 2_000, 3_000], [0.25, 0.5, 1 / 3]);

    const id = await store.putSeries(series, { source: 'simulated' });
    const loaded = await store.getSeries(id);

    expect(id).toMatch(/^series-[0-9a-f-]{36}$/);
    expect(loaded).toEqual(series);
    expect(loaded.values).toBeInstanceOf(Float64Array);
  });

  it('issues a new id for every write, with the kind as its prefix', async () => {
    const first = await store.putJson('report', { f1: 0.5 });
    const second = await store.putJson('report', { f1: 0.5 });

    expect(first).not.toBe(second);
    expect(first).toMatch(/^report-/);
    expect(await store.getJson(first)).toEqual({ f1: 0.5 });
    // Each artifact is one file and its checksum, and no temporary file is left behind.
    expect((await readdir(join(root, 'artifacts'))).sort()).toEqual(
      [`${first}.json`, `${first}.json.sha256`, `${second}.json`, `${second}.json.sha256`].sort(),
    );
  });

  it('reports an unknown id as not found, quoting it', async () => {
    const missing = 'series-00000000-0000-0000-0000-000000000000';

    await expect(store.getSeries(missing)).rejects.toThrow(
      new ArtifactNotFoundError(`artifact '${missing}' does not exist`),
    );
  });

  it('refuses ids it could not have issued, so a path cannot escape the store', async () => {
    await expect(store.getJson('../../etc/passwd')).rejects.toThrow(
      new ArtifactNotFoundError("artifact id '../../etc/passwd' is not an id this store issued"),
    );
  });

  it('refuses an artifact whose content no longer matches its checksum', async () => {
    const id = await store.putJson('report', { f1: 0.5 });
    await writeFile(join(root, 'artifacts', `${id}.json`), JSON.stringify({ f1: 0.99 }));

    await expect(store.getJson(id)).rejects.toThrow(
      `artifact '${id}' is corrupt: its checksum does not match`,
    );
  });
});
