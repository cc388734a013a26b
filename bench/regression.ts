/**
 * Sustained shifts and false alarms of the production ensemble (Isolation Forest and Prophet, as
 * a detector spec with both members trains it) on simulated workloads, in variants of the same
 * run: Prophet's own linear trend past the training data (the baseline), the forest alone (a spec
 * without `models`), the damped trend (the default), and the damped trend with the
 * forecast-drift member.
 *
 *   npm run bench:regression -- [--days 28] [--step-seconds 60] [--drift-points 48] [--out bench/results/regression.json]
 *
 * Per workload and metric: `days` of simulated history split 60/20/20 into training, validation
 * and test, as the training workflow splits it. Shifts of 0.5, 1 and 2 noise deviations (the
 * spread of Prophet's residuals on validation) lasting 30 minutes and 2 hours are planted in
 * copies of the test split; false alarms are counted on the test split as it is. Flags become
 * alerts the way `scoreContinuously` raises them: a flagged step fires, five clean steps resolve.
 * A shift counts as caught when an alert fires inside it; one that starts while an alert is
 * already firing is left out of the recall (the JSON counts them as `masked`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type AnyDetectorModel,
  fitEnsembleModel,
  loadDetectorModel,
  trainDetectorModel,
} from '../ml/detector-model.js';
import { type EventSpan, eventMetrics, robustScale } from '../ml/evaluation/events.js';
import { median } from '../ml/evaluation/static-threshold.js';
import { ProphetModel, type SerializedProphetModel } from '../ml/models/prophet.js';
import { type Series, sliceSeries } from '../ml/series.js';
import { backfillHistory, defaultWorkloads, type SimulatedMetric } from '../sim/workloads.js';
import { type RegressionCell, type RegressionResults, renderRegressionReport } from './regression-report.js';

const METRICS: readonly SimulatedMetric[] = [
  'cpu_usage_cores',
  'http_request_rate',
  'http_latency_p99_seconds',
];
const SHIFTS_IN_NOISE = [0.5, 1, 2] as const;
const DURATION_MINUTES = [30, 120, 360] as const;
/** Shifts planted per copy of the test split, evenly spaced, half up and half down. */
const SHIFTS_PER_COPY = 6;
/** As the scoring loop's `resolveAfterSteps` default. */
const RESOLVE_AFTER_STEPS = 5;
const END_MS = Date.parse('2026-11-30T00:00:00Z');
const FEATURES = { windowsPoints: [12, 60], diffLags: [1], calendar: true };
const TARGET_ANOMALY_RATE = 0.002;

const { values: args } = parseArgs({
  options: {
    days: { type: 'string', default: '28' },
    'step-seconds': { type: 'string', default: '60' },
    'drift-points': { type: 'string', default: '48' },
    /** The JSON figures; the HTML report is written beside it, `.json` replaced by `.html`. */
    out: { type: 'string', default: resolve(import.meta.dirname, 'results/regression.json') },
  },
});
const days = Number(args.days);
const stepSeconds = Number(args['step-seconds']);
const driftPoints = Number(args['drift-points']);
if (!(Number.isInteger(driftPoints) && driftPoints >= 1)) {
  throw new Error(`'--drift-points' (${args['drift-points']}) must be a whole number of at least 1`);
}
if (!(days >= 4)) throw new Error(`'--days' (${args.days}) must be a number of at least 4`);
if (!(Number.isInteger(stepSeconds) && stepSeconds >= 1)) {
  throw new Error(`'--step-seconds' (${args['step-seconds']}) must be a whole number of at least 1`);
}

const say = (message: string) => process.stdout.write(`${message}\n`);

/** Flags as alerts: on from a flagged step until `resolveAfter` clean steps in a row. */
function alertsOf(flags: readonly boolean[], resolveAfter: number): boolean[] {
  const alerts = new Array<boolean>(flags.length).fill(false);
  let clean = resolveAfter;
  for (let i = 0; i < flags.length; i++) {
    clean = flags[i] ? 0 : clean + 1;
    alerts[i] = clean < resolveAfter;
  }
  return alerts;
}

/**
 * `SHIFTS_PER_COPY` shifts of `size` lasting `length` points, evenly spaced after index `from`,
 * alternating in sign.
 */
function plantShifts(
  series: Series,
  from: number,
  size: number,
  length: number,
): { series: Series; events: EventSpan[] } {
  const values = Float64Array.from(series.values);
  const spacing = Math.floor((values.length - from) / (SHIFTS_PER_COPY + 1));
  const events: EventSpan[] = [];
  for (let k = 1; k <= SHIFTS_PER_COPY; k++) {
    const start = from + k * spacing;
    const end = Math.min(values.length - 1, start + length - 1);
    const sign = k % 2 === 0 ? -1 : 1;
    for (let i = start; i <= end; i++) values[i] = values[i]! + sign * size;
    events.push({ start, end });
  }
  return { series: { ...series, values }, events };
}

interface Tally {
  detected: number;
  /** Shifts that started with no alert firing. */
  events: number;
  /** Shifts that started while an alert was firing, left out of `events`. */
  masked: number;
  delaysMinutes: number[];
}

interface Variant {
  readonly name: string;
  /** Prophet's trend past the training data; none: the forest alone, as a spec without `models` trains. */
  readonly trend?: 'linear' | 'damped';
  readonly driftPoints: number;
}
const VARIANTS: readonly Variant[] = [
  { name: 'linear trend', trend: 'linear', driftPoints: 0 },
  { name: 'forest alone', driftPoints: 0 },
  { name: 'damped trend', trend: 'damped', driftPoints: 0 },
  { name: `damped + drift ${driftPoints}`, trend: 'damped', driftPoints },
];
const BASELINE = VARIANTS[0]!.name;

const tallies = new Map<string, Tally>();
const falseAlarms = new Map<string, number>(VARIANTS.map((v) => [v.name, 0]));
let testDays = 0;

const series = backfillHistory({
  seed: 1,
  startMs: END_MS - days * 86_400_000,
  endMs: END_MS,
  stepMs: stepSeconds * 1000,
  workloads: defaultWorkloads,
  metrics: METRICS,
  rateWindowMs: stepSeconds * 1000,
});
const started = performance.now();
for (const [k, s] of series.entries()) {
  const n = s.values.length;
  const train = sliceSeries(s, 0, Math.floor(0.6 * n));
  const validation = sliceSeries(s, Math.floor(0.6 * n), Math.floor(0.8 * n));
  // The test split with the end of validation before it, the history the scoring loop reads.
  const scoredFrom = 200;
  const test = sliceSeries(s, Math.floor(0.8 * n) - scoredFrom);
  const forest = trainDetectorModel(train, validation, {
    features: FEATURES,
    forest: { trees: 100, seed: 1 },
    targetAnomalyRate: TARGET_ANOMALY_RATE,
  });
  // One Prophet per trend, shared by the variants that use it, so they differ only in the fusion.
  // Shift sizes count in the noise around the damped forecast, the one the default calibrates on.
  const prophets = new Map<'linear' | 'damped', SerializedProphetModel>();
  let noise = Number.NaN;
  for (const trend of ['linear', 'damped'] as const) {
    const prophet = ProphetModel.fit(train.timestampsMs, train.values, { trendAfterTraining: trend });
    if (trend === 'damped') {
      const expected = prophet.forecast(validation.timestampsMs).point;
      noise = robustScale(validation.values.map((v, i) => v - expected[i]!));
    }
    prophets.set(trend, prophet.toJSON());
    prophet.free();
  }
  const models = new Map<string, AnyDetectorModel>();
  for (const variant of VARIANTS) {
    if (!variant.trend) {
      models.set(variant.name, forest);
      continue;
    }
    const members = [
      { kind: 'isolation-forest' as const, model: forest, weight: 1 },
      { kind: 'prophet' as const, model: prophets.get(variant.trend)!, weight: 1 },
    ];
    models.set(
      variant.name,
      await fitEnsembleModel(members, train, validation, {
        features: FEATURES,
        targetAnomalyRate: TARGET_ANOMALY_RATE,
        forecastDriftPoints: variant.driftPoints,
      }),
    );
  }
  testDays += ((n - Math.floor(0.8 * n)) * stepSeconds) / 86_400;
  for (const variant of VARIANTS) {
    const loaded = await loadDetectorModel(models.get(variant.name)!);
    const alertsOn = (x: Series) => alertsOf(loaded.score(x).flags, RESOLVE_AFTER_STEPS);
    const clean = eventMetrics(alertsOn(test).slice(scoredFrom), []).falseAlarms;
    falseAlarms.set(variant.name, falseAlarms.get(variant.name)! + clean);
    for (const shift of SHIFTS_IN_NOISE) {
      for (const minutes of DURATION_MINUTES) {
        const length = Math.max(1, Math.round((minutes * 60) / stepSeconds));
        const planted = plantShifts(test, scoredFrom, shift * noise, length);
        const alerts = alertsOn(planted.series);
        const key = `${variant.name}|${shift}|${minutes}`;
        const tally = tallies.get(key) ?? { detected: 0, events: 0, masked: 0, delaysMinutes: [] };
        for (const e of planted.events) {
          // A shift that starts while an alert is already firing cannot page anyone anew.
          if (alerts[e.start - 1]) {
            tally.masked++;
            continue;
          }
          tally.events++;
          const first = alerts.slice(e.start, e.end + 1).indexOf(true);
          if (first < 0) continue;
          tally.detected++;
          tally.delaysMinutes.push((first * stepSeconds) / 60);
        }
        tallies.set(key, tally);
      }
    }
  }
  say(
    `[${k + 1}/${series.length}] ${s.labels.namespace}/${s.labels.workload} ${s.labels.metric}: noise ${noise.toPrecision(3)}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
}

const rows: Record<string, string | number>[] = [];
const results: RegressionCell[] = [];
for (const shift of SHIFTS_IN_NOISE) {
  for (const minutes of DURATION_MINUTES) {
    const row: Record<string, string | number> = { shift: `${shift} noise`, minutes };
    for (const variant of VARIANTS) {
      const t = tallies.get(`${variant.name}|${shift}|${minutes}`)!;
      const delay = median(t.delaysMinutes);
      row[variant.name] =
        `${((100 * t.detected) / t.events).toFixed(0)}%, ${delay === null ? '–' : delay} min`;
      results.push({
        variant: variant.name,
        shiftInNoise: shift,
        minutes,
        detected: t.detected,
        events: t.events,
        masked: t.masked,
        medianDelayMinutes: delay,
      });
    }
    rows.push(row);
  }
}
say(
  `\n${series.length} series, ${testDays.toFixed(1)} test days, ${SHIFTS_PER_COPY} shifts per series and size`,
);
say(
  'shifts caught by an alert that fires inside them (median delay), of those that start with no alert firing:',
);
console.table(rows);
const baseline = falseAlarms.get(BASELINE)!;
console.table(
  VARIANTS.map((v) => ({
    variant: v.name,
    'false alarms': falseAlarms.get(v.name)!,
    'per day': (falseAlarms.get(v.name)! / testDays).toFixed(2),
    [`ratio to ${BASELINE}`]: baseline > 0 ? (falseAlarms.get(v.name)! / baseline).toFixed(2) : '–',
  })),
);
const summary: RegressionResults = {
  days,
  stepSeconds,
  series: series.length,
  testDays,
  variants: VARIANTS.map((v) => v.name),
  falseAlarms: Object.fromEntries(falseAlarms),
  results,
};
const reportPath = `${args.out.replace(/\.json$/, '')}.html`;
await mkdir(dirname(args.out), { recursive: true });
await writeFile(args.out, `${JSON.stringify(summary, null, 2)}\n`);
await writeFile(reportPath, renderRegressionReport(summary));
say(`results: ${args.out}`);
say(`report: ${reportPath}`);
