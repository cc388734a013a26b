import { Gauge, Histogram, type Registry } from 'prom-client';

/** The labels of every per-series metric: which detector scored which signal of which workload. */
export interface SeriesLabels {
  readonly detector: string;
  readonly namespace: string;
  readonly workload: string;
  /** Catalogue id of the signal, e.g. `cpu_usage_cores`. */
  readonly metric: string;
}

type SeriesLabelName = keyof SeriesLabels;
const seriesLabelNames: SeriesLabelName[] = ['detector', 'namespace', 'workload', 'metric'];

export interface ScoreSample extends SeriesLabels {
  readonly score: number;
  readonly threshold: number;
  readonly anomalous: boolean;
}

export interface DetectorMetrics {
  readonly score: Gauge<SeriesLabelName>;
  readonly threshold: Gauge<SeriesLabelName>;
  readonly anomalous: Gauge<SeriesLabelName>;
  readonly forecast: Gauge<SeriesLabelName | 'horizon_seconds'>;
  readonly recommendedReplicas: Gauge<'detector' | 'namespace' | 'workload'>;
  readonly modelInfo: Gauge<'detector' | 'version'>;
  readonly inferenceDuration: Histogram<'detector'>;
  readonly scoringLag: Histogram<'detector'>;
  recordScore(sample: ScoreSample): void;
  recordForecast(labels: SeriesLabels, horizonSeconds: number, value: number): void;
  /** Sets the detector's version to 1 and removes the series of its previous version. */
  setModelVersion(detector: string, version: string): void;
  /** Removes a series that is no longer scored, so dashboards stop showing its last value. */
  forgetSeries(labels: SeriesLabels): void;
}

/**
 * Registers the detector's metrics on `registry` (pass a fresh `Registry` per test, the process's
 * registry in production). Names carry their unit; scores and flags are unitless.
 */
export function createDetectorMetrics(registry: Registry): DetectorMetrics {
  const registers = [registry];
  const score = new Gauge({
    name: 'anomaly_detector_score',
    help: 'Anomaly score of the newest point of a series, 0 normal to 1 most anomalous.',
    labelNames: seriesLabelNames,
    registers,
  });
  const threshold = new Gauge({
    name: 'anomaly_detector_threshold',
    help: 'Calibrated score above which the point is flagged as anomalous.',
    labelNames: seriesLabelNames,
    registers,
  });
  const anomalous = new Gauge({
    name: 'anomaly_detector_anomalous',
    help: 'Whether the newest point of a series is flagged as anomalous (1) or not (0).',
    labelNames: seriesLabelNames,
    registers,
  });
  const forecast = new Gauge({
    name: 'anomaly_detector_forecast',
    help: 'Forecast value of a series at the given horizon, in the unit of the series.',
    labelNames: [...seriesLabelNames, 'horizon_seconds'],
    registers,
  });
  const recommendedReplicas = new Gauge({
    name: 'anomaly_detector_recommended_replicas',
    help: 'Replicas recommended for a workload from the forecast, for an HPA or KEDA to act on.',
    labelNames: ['detector', 'namespace', 'workload'],
    registers,
  });
  const modelInfo = createModelInfo(registry);
  const inferenceDuration = createInferenceDuration(registry);
  const scoringLag = new Histogram({
    name: 'anomaly_detector_scoring_lag_seconds',
    help: 'Delay between the timestamp of the newest scored point and the time it was scored.',
    labelNames: ['detector'],
    buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers,
  });
  const versions = new Map<string, string>();

  return {
    score,
    threshold,
    anomalous,
    forecast,
    recommendedReplicas,
    modelInfo,
    inferenceDuration,
    scoringLag,
    recordScore(sample) {
      const labels = pickSeriesLabels(sample);
      score.set(labels, sample.score);
      threshold.set(labels, sample.threshold);
      anomalous.set(labels, sample.anomalous ? 1 : 0);
    },
    recordForecast(labels, horizonSeconds, value) {
      forecast.set({ ...pickSeriesLabels(labels), horizon_seconds: String(horizonSeconds) }, value);
    },
    setModelVersion(detector, version) {
      const previous = versions.get(detector);
      if (previous !== undefined && previous !== version) modelInfo.remove({ detector, version: previous });
      versions.set(detector, version);
      modelInfo.set({ detector, version }, 1);
    },
    forgetSeries(labels) {
      const picked = pickSeriesLabels(labels);
      score.remove(picked);
      threshold.remove(picked);
      anomalous.remove(picked);
    },
  };
}

/** Which model version a detector scores with, as an info metric: the workers and the API both export it. */
export function createModelInfo(registry: Registry): Gauge<'detector' | 'version'> {
  return new Gauge({
    name: 'anomaly_detector_model_info',
    help: 'Model version a detector scores with; the value is always 1.',
    labelNames: ['detector', 'version'],
    registers: [registry],
  });
}

/** Time to score a window, in the scoring loop and behind POST /predict alike. */
export function createInferenceDuration(registry: Registry): Histogram<'detector'> {
  return new Histogram({
    name: 'anomaly_detector_inference_duration_seconds',
    help: 'Time to score one window of a detector, features included.',
    labelNames: ['detector'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
}

function pickSeriesLabels(labels: SeriesLabels): Record<SeriesLabelName, string> {
  return {
    detector: labels.detector,
    namespace: labels.namespace,
    workload: labels.workload,
    metric: labels.metric,
  };
}
