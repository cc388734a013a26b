import { Counter, type Gauge, type Histogram, type Registry } from 'prom-client';
import { createInferenceDuration, createModelInfo } from '../clients/metrics.js';

/** What the gateway exports beside the per-route request durations of fastify-metrics. */
export interface ApiMetrics {
  readonly registry: Registry;
  readonly inferenceDuration: Histogram<'detector'>;
  /** Versions that answered POST /predict; the value is always 1. */
  readonly modelInfo: Gauge<'detector' | 'version'>;
  readonly pointsScored: Counter<'detector'>;
  readonly anomaliesFlagged: Counter<'detector'>;
}

export function createApiMetrics(registry: Registry): ApiMetrics {
  return {
    registry,
    inferenceDuration: createInferenceDuration(registry),
    modelInfo: createModelInfo(registry),
    pointsScored: new Counter({
      name: 'anomaly_detector_predict_points_total',
      help: 'Points scored through POST /predict.',
      labelNames: ['detector'],
      registers: [registry],
    }),
    anomaliesFlagged: new Counter({
      name: 'anomaly_detector_predict_anomalies_total',
      help: 'Points flagged as anomalous through POST /predict.',
      labelNames: ['detector'],
      registers: [registry],
    }),
  };
}
