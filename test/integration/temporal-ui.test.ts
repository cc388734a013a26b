import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/config.js';
import { createTrainingWorker } from '../../workers/training-worker.js';
import type { TrainDetectorResult } from '../../workflows/train-detector.js';
import { launchChromium } from '../support/chromium.js';
import { temporalCliPath } from '../support/temporal.js';

const ROOT = resolve(import.meta.dirname, '../..');
const JUMPSUP = resolve(ROOT, 'datasets/nab/artificialWithAnomaly/art_daily_jumpsup.csv');

/** A port that was free a moment ago: the dev server takes it for its UI. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (typeof address !== 'object' || address === null) throw new Error('no port from the loopback listener');
  return address.port;
}

describe('the Temporal UI served by the dev server', () => {
  let env: TestWorkflowEnvironment;
  let browser: Browser;
  let folder: string;
  let uiPort: number;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'temporal-ui-'));
    uiPort = await freePort();
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: temporalCliPath() },
        ui: true,
        uiPort,
        // Keeps the UI from reaching out for its news feed: nothing leaves 127.0.0.1.
        extraArgs: ['--ui-disable-news-fetch'],
        log: { format: 'json', level: 'error' },
      },
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await env?.teardown();
    // The screenshots stay in the folder for a person to look at; the registry's files go.
    if (folder) await rm(join(folder, 'data'), { recursive: true, force: true });
  });

  it('starts trainDetector from the Start Workflow form and shows it completed', async () => {
    const config = loadConfig({ DATA_DIR: join(folder, 'data'), TRAINING_TASK_QUEUE: 'training-ui' });
    const worker = await createTrainingWorker({ connection: env.nativeConnection, config });
    const spec = {
      name: 'jumpsup-ui',
      source: { kind: 'csv', path: JUMPSUP },
      model: { trees: 20, seed: 2 },
    };
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const shot = (name: string) => page.screenshot({ path: join(folder, `${name}.png`), fullPage: true });

    const result = await worker.runUntil(async () => {
      await page.goto(`http://127.0.0.1:${uiPort}/namespaces/default/workflows/start-workflow`);
      await page.getByTestId('workflowId').fill('train-from-ui');
      await page.getByTestId('taskQueue').fill('training-ui');
      await page.getByTestId('workflowType').fill('trainDetector');
      const input = page.getByRole('textbox', { name: 'Data' });
      await input.click();
      // Typed key by key, the editor would add closing brackets of its own; inserted text is kept as is.
      await page.keyboard.insertText(JSON.stringify(spec));
      await shot('filled');
      const submit = page.getByRole('button', { name: 'Start Workflow' });
      await expect.poll(() => submit.isEnabled()).toBe(true);
      // Leaving the editor reformats the JSON and moves the button down: click it only after that.
      await page.getByRole('heading', { name: 'Start Workflow' }).click();
      await expect.poll(() => input.locator('.cm-line').count()).toBeGreaterThan(1);
      await submit.click();
      // The form stays put and confirms with a toast that links to the new workflow.
      const started = page.getByRole('link', { name: 'Workflow started successfully' });
      await started.waitFor({ timeout: 30_000 });
      await shot('submitted');
      await started.click();
      await page.waitForURL(/\/workflows\/train-from-ui\//, { timeout: 30_000 });
      await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: 120_000 });
      await shot('completed');
      return env.client.workflow.getHandle('train-from-ui').result() as Promise<TrainDetectorResult>;
    });

    expect(result).toMatchObject({ detector: 'jumpsup-ui', version: 1, promoted: true });
    const description = await env.client.workflow.getHandle('train-from-ui').describe();
    expect(description.type).toBe('trainDetector');
    expect(description.taskQueue).toBe('training-ui');
    expect(description.status.name).toBe('COMPLETED');
  });
});
