import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NabRunResult, readNabResults, runNabBenchmark, scoreNabRun } from '../../bench/nab-runner.js';
import { NAB_PROFILE_NAMES } from '../../ml/evaluation/nab-scorer.js';
import { launchChromium } from '../support/chromium.js';

const fixture = fileURLToPath(new URL('../fixtures/nab/', import.meta.url));
const FILES = [
  'artificialNoAnomaly/art_flatline.csv',
  'artificialWithAnomaly/art_daily_jumpsup.csv',
  'realTraffic/speed_7578.csv',
];

describe('NAB runner and report', () => {
  let out: string;
  let result: NabRunResult;
  let browser: Browser;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'nab-report-'));
    result = await runNabBenchmark({
      dataDir: fixture,
      windowsFile: join(fixture, 'windows.json'),
      outDir: out,
      detector: 'windowedGaussian',
      workers: 2,
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('writes NAB results files with a label column that marks the windows', async () => {
    const csv = await readFile(
      join(out, 'windowedGaussian', 'realTraffic', 'windowedGaussian_speed_7578.csv'),
      'utf8',
    );
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe('timestamp,value,anomaly_score,label');
    const input = await readFile(join(fixture, 'data', 'realTraffic', 'speed_7578.csv'), 'utf8');
    expect(lines).toHaveLength(input.trim().split('\n').length);
    const labelled = lines.slice(1).filter((l) => l.endsWith(',1')).length;
    const expected = result.files
      .find((f) => f.relativePath === 'realTraffic/speed_7578.csv')!
      .windowRows.reduce((s, [a, b]) => s + b - a + 1, 0);
    expect(labelled).toBe(expected);
    expect(labelled).toBeGreaterThan(0);
  });

  it('scores every file under the three profiles, within NAB bounds', () => {
    expect(result.corpus.files).toBe(3);
    expect(result.corpus.windows).toBe(5);
    for (const profile of Object.values(result.corpus.profiles)) {
      expect(profile.files).toHaveLength(3);
      expect(profile.normalisedScore).toBeLessThanOrEqual(100);
      expect(profile.rawScore).toBeGreaterThanOrEqual(profile.nullScore);
    }
  });

  it('renders a chart with drawn paths for each file and a non-empty layout', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`file://${result.reportPath}`);

    for (const file of FILES) {
      const chart = page.locator(`svg.chart[data-file="${file}"]`);
      await expect(chart.count()).resolves.toBe(1);
      const box = await chart.boundingBox();
      expect(box?.width ?? 0).toBeGreaterThan(0);
      expect(box?.height ?? 0).toBeGreaterThan(0);
      const series = await chart.locator('path.series').getAttribute('d');
      const score = await chart.locator('path.score').getAttribute('d');
      expect(series?.length ?? 0).toBeGreaterThan(100);
      expect(score?.length ?? 0).toBeGreaterThan(100);
      const seriesBox = await chart.locator('path.series').boundingBox();
      expect(seriesBox?.width ?? 0).toBeGreaterThan(0);
    }
    const windows = await page.locator('svg.chart rect.window').count();
    expect(windows).toBe(5);

    // Detections inside windows and false positives outside are marked apart, as the scorer counts them.
    for (const f of result.corpus.profiles.standard!.files) {
      const chart = page.locator(`svg.chart[data-file="${f.name}"]`);
      await expect(chart.locator('path.detection').count()).resolves.toBe(f.tp > 0 ? 1 : 0);
      await expect(chart.locator('path.false-positive').count()).resolves.toBe(f.fp > 0 ? 1 : 0);
    }

    const shot = join(out, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
    await page.close();
  });

  it("shows each target beside the run's figure", async () => {
    const page = await browser.newPage();
    await page.goto(`file://${result.reportPath}`);
    const rows = page.locator('table#targets tr.met, table#targets tr.missed');
    await expect(rows.count()).resolves.toBe(6);
    const first = await rows.first().locator('td').allTextContents();
    expect(first[0]).toBe('NAB standard');
    expect(first[2]).toBe(result.corpus.profiles.standard!.normalisedScore.toFixed(1));
    expect(['yes', 'no']).toContain(first[3]);

    // Where the false alarms start, for both sides; each row adds up to that side's false alarms.
    const places = page.locator('table#false-alarm-places tr:has(td)');
    await expect(places.count()).resolves.toBe(2);
    const perFile = result.staticThreshold.perFile;
    const sides = [
      perFile.reduce((s, f) => s + f.detector.falseAlarms, 0),
      perFile.reduce((s, f) => s + f.staticRule.falseAlarms, 0),
    ];
    for (const [k, total] of sides.entries()) {
      const cells = (await places.nth(k).locator('td').allTextContents()).slice(1).map(Number);
      expect(cells.slice(0, 4).reduce((a, b) => a + b, 0)).toBe(total);
      expect(cells[4]).toBe(total);
    }
    await page.close();
  });

  it('scores its saved results again to the same figures, without running the detector', async () => {
    const saved = await readNabResults(join(out, 'windowedGaussian'), join(fixture, 'windows.json'));
    expect(saved.detector).toBe('windowedGaussian');
    expect(saved.files.map((f) => f.relativePath)).toEqual(FILES);

    const again = await scoreNabRun({ ...saved, outDir: join(out, 'again') });
    for (const profile of NAB_PROFILE_NAMES) {
      expect(again.corpus.profiles[profile]!.rawScore).toBe(result.corpus.profiles[profile]!.rawScore);
      expect(again.corpus.profiles[profile]!.threshold).toBe(result.corpus.profiles[profile]!.threshold);
    }
    expect(again.staticThreshold.detector).toEqual(result.staticThreshold.detector);
    expect(again.staticThreshold.staticThreshold).toEqual(result.staticThreshold.staticThreshold);
    expect(again.seconds).toBeUndefined();
    expect(await readFile(again.reportPath, 'utf8')).toContain('scored from saved results');

    // Another alert threshold moves the comparison, not the NAB scores and their own thresholds.
    const strict = await scoreNabRun({ ...saved, outDir: join(out, 'strict'), alertThreshold: 1.01 });
    expect(strict.corpus.profiles.standard!.rawScore).toBe(result.corpus.profiles.standard!.rawScore);
    expect(strict.staticThreshold.detector.recall).toBe(0);
    expect(strict.staticThreshold.detector.falseAlarmsPerDay).toBe(0);
  });

  it('keeps the page light by drawing at most two points per pixel column', async () => {
    const html = await readFile(result.reportPath, 'utf8');
    expect(html).not.toMatch(/<script|https?:\/\//);
    for (const d of html.matchAll(/class="series" d="([^"]*)"/g)) {
      expect(d[1]!.split('L').length).toBeLessThanOrEqual(2 * 960 + 1);
    }
  });
});
