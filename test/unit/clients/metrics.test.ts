import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createDetectorMetrics } from '../../../clients/metrics.js';

const series = { detector: 'shop-cpu', namespace: 'shop', workload: 'frontend', metric: 'cpu_usage_cores' };
const labels = 'detector="shop-cpu",namespace="shop",workload="frontend",metric="cpu_usage_cores"';

describe('createDetectorMetrics', () => {
  it('exposes every metric with a help line and a type', async () => {
    const registry = new Registry();
    createDetectorMetrics(registry);

    const text = await registry.metrics();

    for (const [name, type] of [
      ['anomaly_detector_score', 'gauge'],
      ['anomaly_detector_threshold', 'gauge'],
      ['anomaly_detector_anomalous', 'gauge'],
      ['anomaly_detector_forecast', 'gauge'],
      ['anomaly_detector_recommended_replicas', 'gauge'],
      ['anomaly_detector_model_info', 'gauge'],
      ['anomaly_detector_inference_duration_seconds', 'histogram'],
      ['anomaly_detector_scoring_lag_seconds', 'histogram'],
    ]) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S.+$`, 'm'));
      expect(text).toContain(`# TYPE ${name} ${type}`);
    }
  });

  it('records score, threshold and flag per detector and series', async () => {
    const registry = new Registry();
    const metrics = createDetectorMetrics(registry);

    metrics.recordScore({ ...series, score: 0.91, threshold: 0.8, anomalous: true });
    const text = await registry.metrics();

    expect(text).toContain(`anomaly_detector_score{${labels}} 0.91`);
    expect(text).toContain(`anomaly_detector_threshold{${labels}} 0.8`);
    expect(text).toContain(`anomaly_detector_anomalous{${labels}} 1`);
  });

  it('keeps one model_info series per detector, for the current version', async () => {
    const registry = new Registry();
    const metrics = createDetectorMetrics(registry);

    metrics.setModelVersion('shop-cpu', '3');
    metrics.setModelVersion('shop-cpu', '4');
    const text = await registry.metrics();

    expect(text).toContain('anomaly_detector_model_info{detector="shop-cpu",version="4"} 1');
    expect(text).not.toContain('version="3"');
  });

  it('records forecasts, recommended replicas and durations', async () => {
    const registry = new Registry();
    const metrics = createDetectorMetrics(registry);

    metrics.recordForecast(series, 1800, 2.5);
    metrics.recommendedReplicas.set({ detector: 'shop-cpu', namespace: 'shop', workload: 'frontend' }, 5);
    metrics.inferenceDuration.observe({ detector: 'shop-cpu' }, 0.02);
    metrics.scoringLag.observe({ detector: 'shop-cpu' }, 12);
    const text = await registry.metrics();

    expect(text).toContain(`anomaly_detector_forecast{${labels},horizon_seconds="1800"} 2.5`);
    expect(text).toContain(
      'anomaly_detector_recommended_replicas{detector="shop-cpu",namespace="shop",workload="frontend"} 5',
    );
    expect(text).toContain(
      'anomaly_detector_inference_duration_seconds_bucket{le="0.025",detector="shop-cpu"} 1',
    );
    expect(text).toContain('anomaly_detector_scoring_lag_seconds_count{detector="shop-cpu"} 1');
  });

  it('forgets a series that is no longer scored', async () => {
    const registry = new Registry();
    const metrics = createDetectorMetrics(registry);
    metrics.recordScore({ ...series, score: 0.1, threshold: 0.8, anomalous: false });

    metrics.forgetSeries(series);

    expect(await registry.metrics()).not.toContain('workload="frontend"');
  });
});
