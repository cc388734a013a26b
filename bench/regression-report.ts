import { escapeHtml as esc } from './html.js';

/** The figures of one `bench/regression.ts` run, as written to its JSON. */
export interface RegressionResults {
  readonly days: number;
  readonly stepSeconds: number;
  readonly series: number;
  readonly testDays: number;
  /** Variant names in the order they ran; the first is the baseline. */
  readonly variants: readonly string[];
  /** False alarms on the unshifted test splits, by variant. */
  readonly falseAlarms: Readonly<Record<string, number>>;
  readonly results: readonly RegressionCell[];
}

export interface RegressionCell {
  readonly variant: string;
  readonly shiftInNoise: number;
  readonly minutes: number;
  /** Shifts an alert fired inside, of `events`. */
  readonly detected: number;
  /** Shifts that started with no alert firing. */
  readonly events: number;
  /** Shifts that started while an alert was firing, left out of `events`. */
  readonly masked: number;
  readonly medianDelayMinutes: number | null;
}

const COLOURS = ['#9aa5b1', '#2f6fb3', '#e08a1e', '#3b9c5a', '#8e44ad', '#c0392b'];
const BAR = 14;
const GROUP_GAP = 18;
const PLOT_HEIGHT = 180;
const LEFT = 44;
const TOP = 12;
const BOTTOM = 46;

/**
 * A self-contained page (inline SVG and CSS, nothing fetched): the share of shifts caught per
 * variant for every shift size and length, and the false alarms a day per variant.
 */
export function renderRegressionReport(input: RegressionResults): string {
  const colour = (k: number) => COLOURS[k % COLOURS.length]!;
  const legend = input.variants
    .map((v, k) => `<span class="key"><i style="background:${colour(k)}"></i>${esc(v)}</span>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sustained shifts and false alarms</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}
svg{display:block;background:#fff;border:1px solid #ddd;margin:8px 0 20px}
.axis{stroke:#888;stroke-width:1}.grid{stroke:#eee;stroke-width:1}text{font-size:11px;fill:#444}
.key{margin-right:16px;white-space:nowrap}.key i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
</style></head><body>
<h1>Sustained shifts and false alarms</h1>
<p>${input.series} simulated series, ${input.days} days each at a ${input.stepSeconds} s step, ${fmt(input.testDays, 1)} test days. The first variant is the baseline of the same run.</p>
<p>${legend}</p>
<h2>Shifts caught</h2>
<p>Share of planted shifts an alert fired inside, of those that started with no alert already firing; by shift size (in noise deviations) and length.</p>
${recallChart(input, colour)}
<h2>False alarms a day</h2>
${falseAlarmChart(input, colour)}
</body></html>
`;
}

function recallChart(input: RegressionResults, colour: (k: number) => string): string {
  const groups = [...new Map(input.results.map((c) => [`${c.shiftInNoise}|${c.minutes}`, c])).values()];
  const groupWidth = input.variants.length * BAR + GROUP_GAP;
  const width = LEFT + groups.length * groupWidth + 8;
  const height = TOP + PLOT_HEIGHT + BOTTOM;
  const y = (share: number) => TOP + PLOT_HEIGHT * (1 - share);
  const parts: string[] = [];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(
      `<line class="grid" x1="${LEFT}" x2="${width - 8}" y1="${y(tick)}" y2="${y(tick)}"/><text x="${LEFT - 6}" y="${y(tick) + 4}" text-anchor="end">${tick * 100}%</text>`,
    );
  }
  groups.forEach((g, gi) => {
    const x0 = LEFT + gi * groupWidth + GROUP_GAP / 2;
    input.variants.forEach((variant, k) => {
      const cell = input.results.find(
        (c) => c.variant === variant && c.shiftInNoise === g.shiftInNoise && c.minutes === g.minutes,
      );
      if (!cell) return;
      const share = cell.events > 0 ? cell.detected / cell.events : 0;
      const label = `${variant}: ${cell.detected} of ${cell.events} shifts of ${g.shiftInNoise} noise for ${g.minutes} min`;
      parts.push(
        `<rect class="bar" data-variant="${esc(variant)}" data-shift="${g.shiftInNoise}" data-minutes="${g.minutes}" data-share="${share}" x="${x0 + k * BAR}" y="${y(share)}" width="${BAR - 2}" height="${y(0) - y(share)}" fill="${colour(k)}"><title>${esc(label)}</title></rect>`,
      );
    });
    const cx = x0 + (input.variants.length * BAR) / 2;
    parts.push(
      `<text x="${cx}" y="${y(0) + 16}" text-anchor="middle">${g.shiftInNoise} noise</text><text x="${cx}" y="${y(0) + 30}" text-anchor="middle">${g.minutes} min</text>`,
    );
  });
  parts.push(`<line class="axis" x1="${LEFT}" x2="${width - 8}" y1="${y(0)}" y2="${y(0)}"/>`);
  return `<svg class="chart" id="recall" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="shifts caught per variant">${parts.join('')}</svg>`;
}

function falseAlarmChart(input: RegressionResults, colour: (k: number) => string): string {
  const perDay = input.variants.map((v) => (input.falseAlarms[v] ?? 0) / Math.max(input.testDays, 1e-9));
  const top = Math.max(...perDay, 1e-9);
  const rowHeight = 24;
  const labelWidth = 180;
  const plotWidth = 480;
  const width = labelWidth + plotWidth + 80;
  const height = input.variants.length * rowHeight + 12;
  const parts = input.variants.map((variant, k) => {
    const y = 6 + k * rowHeight;
    const w = (plotWidth * perDay[k]!) / top;
    return `<text x="${labelWidth - 8}" y="${y + 14}" text-anchor="end">${esc(variant)}</text><rect class="bar" data-variant="${esc(variant)}" data-per-day="${perDay[k]}" x="${labelWidth}" y="${y}" width="${w}" height="${rowHeight - 6}" fill="${colour(k)}"><title>${esc(`${variant}: ${input.falseAlarms[variant] ?? 0} false alarms`)}</title></rect><text x="${labelWidth + w + 6}" y="${y + 14}">${fmt(perDay[k]!, 2)}</text>`;
  });
  return `<svg class="chart" id="false-alarms" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="false alarms a day per variant">${parts.join('')}</svg>`;
}

function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '–';
}
