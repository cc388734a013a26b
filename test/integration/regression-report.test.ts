import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegressionResults, renderRegressionReport } from '../../bench/regression-report.js';
import { launchChromium } from '../support/chromium.js';

const VARIANTS = ['linear trend', 'forest alone', 'damped <trend>'];

/** Two shift sizes of one length, caught 1, 3 and 6 times of 6 (the small) and 6 of 6 (the large). */
const RESULTS: RegressionResults = {
  days: 28,
  stepSeconds: 60,
  series: 2,
  testDays: 10,
  variants: VARIANTS,
  falseAlarms: { 'linear trend': 40, 'forest alone': 10, 'damped <trend>': 20 },
  results: VARIANTS.flatMap((variant, k) => [
    {
      variant,
      shiftInNoise: 1,
      minutes: 30,
      detected: [1, 3, 6][k]!,
      events: 6,
      masked: 0,
      medianDelayMinutes: 2,
    },
    { variant, shiftInNoise: 2, minutes: 30, detected: 6, events: 6, masked: 0, medianDelayMinutes: null },
  ]),
};

describe('sustained-shift report', () => {
  let dir: string;
  let browser: Browser;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regression-report-'));
    await writeFile(join(dir, 'regression.html'), renderRegressionReport(RESULTS));
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('draws a bar per variant and shift, as tall as the share of shifts caught', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    await page.goto(`file://${join(dir, 'regression.html')}`);

    const bars = page.locator('svg#recall rect.bar');
    await expect(bars.count()).resolves.toBe(6);
    const height = async (variant: string, shift: number) => {
      const box = await page
        .locator(`svg#recall rect.bar[data-variant="${variant}"][data-shift="${shift}"]`)
        .boundingBox();
      return box?.height ?? Number.NaN;
    };
    const small = await Promise.all(VARIANTS.map((v) => height(v, 1)));
    expect(small[0]!).toBeGreaterThan(0);
    expect(small[1]! / small[0]!).toBeCloseTo(3, 1);
    expect(small[2]! / small[0]!).toBeCloseTo(6, 1);
    expect(await height('forest alone', 2)).toBeCloseTo(small[2]!, 1);

    // False alarms a day: bar lengths in proportion, the variant's name escaped and shown.
    const widths = await Promise.all(
      VARIANTS.map(
        async (v) =>
          (await page.locator(`svg#false-alarms rect.bar[data-variant="${v}"]`).boundingBox())?.width ?? 0,
      ),
    );
    expect(widths[0]! / widths[1]!).toBeCloseTo(4, 1);
    expect(widths[2]! / widths[1]!).toBeCloseTo(2, 1);
    await expect(page.locator('svg#false-alarms text', { hasText: 'damped <trend>' }).count()).resolves.toBe(
      1,
    );

    const shot = join(dir, 'regression.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
    await page.close();
  });
});
