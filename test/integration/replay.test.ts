import { readdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../../workers/training-worker.js';

const HISTORIES = resolve(import.meta.dirname, '../fixtures/histories');

/**
 * Every recorded history must replay against the current workflow code: a change that would break
 * a running workflow (a reordered activity, a removed timer) fails here instead of in production.
 * Record new histories with RECORD_HISTORIES=1 on the integration tests.
 */
describe('recorded workflow histories', async () => {
  const files = (await readdir(HISTORIES)).filter((f) => f.endsWith('.json')).sort();

  it('include at least one history per workflow', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    const history = JSON.parse(await readFile(resolve(HISTORIES, file), 'utf8'));
    await expect(
      Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, replayName: file }, history),
    ).resolves.toBeUndefined();
  });
});
