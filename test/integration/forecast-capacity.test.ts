import { resolve } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createForecastingActivities } from '../../activities/forecasting.js';
import { createKubernetesClient, type KubernetesApis } from '../../clients/kubernetes.js';
import { createDetectorMetrics } from '../../clients/metrics.js';
import { recommendReplicas } from '../../ml/capacity.js';
import { forecastSeries } from '../../ml/forecast.js';
import { recordHistory } from '../../scripts/record-history.js';
import { backfillHistory, findWorkload } from '../../sim/workloads.js';
import { WORKFLOWS_PATH } from '../../workers/training-worker.js';
import { forecastCapacity, forecastStatusQuery } from '../../workflows/forecast-capacity.js';
import { startDevServer } from '../support/temporal.js';

const ROOT = resolve(import.meta.dirname, '../..');

interface PatchCall {
  readonly name: string;
  readonly namespace: string;
  readonly body: unknown;
  readonly dryRun?: string;
}

/** The Kubernetes API calls the client makes, answered from memory; patches are recorded, not applied. */
function fakeKubernetesApis(hpaMinReplicas: number): { apis: KubernetesApis; patches: PatchCall[] } {
  const patches: PatchCall[] = [];
  const hpa = {
    metadata: { name: 'frontend', namespace: 'shop' },
    spec: {
      scaleTargetRef: { kind: 'Deployment', name: 'frontend' },
      minReplicas: hpaMinReplicas,
      maxReplicas: 8,
    },
    status: { currentReplicas: hpaMinReplicas, desiredReplicas: hpaMinReplicas },
  };
  const deployment = {
    metadata: { name: 'frontend', namespace: 'shop' },
    spec: {
      replicas: 3,
      template: {
        spec: {
          containers: [{ name: 'frontend', resources: { requests: { cpu: '500m', memory: '256Mi' } } }],
        },
      },
    },
  };
  const apis = {
    apps: {
      listNamespacedDeployment: async () => ({ items: [deployment] }),
      listNamespacedStatefulSet: async () => ({ items: [] }),
    },
    autoscaling: {
      listNamespacedHorizontalPodAutoscaler: async () => ({ items: [hpa] }),
      readNamespacedHorizontalPodAutoscaler: async () => hpa,
      patchNamespacedHorizontalPodAutoscaler: async (request: PatchCall) => {
        patches.push({
          name: request.name,
          namespace: request.namespace,
          body: request.body,
          dryRun: request.dryRun,
        });
        return hpa;
      },
    },
  } as unknown as KubernetesApis;
  return { apis, patches };
}

describe('forecastCapacity on a real Temporal dev server', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await startDevServer();
  });

  afterAll(async () => {
    await env?.teardown();
  });

  it('recommends replicas from the simulated forecast, exports them and only dry-runs the HPA patch', async () => {
    const { apis, patches } = fakeKubernetesApis(1);
    const registry = new Registry();
    const activities = createForecastingActivities({
      metrics: createDetectorMetrics(registry),
      kubernetes: createKubernetesClient({ apis }),
    });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'forecast-it',
      workflowsPath: WORKFLOWS_PATH,
      activities,
    });
    const spec = {
      name: 'shop-capacity',
      source: { kind: 'simulated', seed: 3, stepSeconds: 300, lookbackHours: 336 },
      workloads: [
        { namespace: 'shop', name: 'frontend', minReplicas: 2, maxReplicas: 8, patchHpa: true },
        {
          namespace: 'shop',
          name: 'checkout',
          maxReplicas: 6,
          requests: { cpuCores: 0.25, memoryBytes: 384 * 1024 ** 2 },
        },
      ],
      intervalMinutes: 0.02,
      maxRounds: 2,
    };

    const handle = await env.client.workflow.start(forecastCapacity, {
      taskQueue: 'forecast-it',
      workflowId: 'forecast-shop-1',
      args: [spec],
    });
    const [result, status] = await worker.runUntil(async () => {
      const done = await handle.result();
      return [done, await handle.query(forecastStatusQuery)] as const;
    });

    expect(result).toEqual(status);
    expect(result.round).toBe(2);
    expect(result.apply).toBe(false);
    const [frontend, checkout] = result.workloads;
    expect(frontend?.error).toBeUndefined();
    expect(checkout?.error).toBeUndefined();

    // The same forecast computed here, at the round's time, gives the same recommendation.
    const endMs = result.lastRoundAtMs!;
    const [cpu, memory] = backfillHistory({
      seed: 3,
      startMs: endMs - 336 * 3_600_000,
      endMs,
      stepMs: 300_000,
      workloads: [findWorkload('shop/frontend')],
      metrics: ['cpu_usage_cores', 'memory_working_set_bytes'],
    });
    const expected = recommendReplicas({
      minReplicas: 2,
      maxReplicas: 8,
      targetUtilisation: 0.7,
      demands: {
        cpu: { peakForecast: Math.max(...forecastSeries(cpu!).upper), requestPerPod: 0.5 },
        memory: { peakForecast: Math.max(...forecastSeries(memory!).upper), requestPerPod: 256 * 1024 ** 2 },
      },
    });
    expect(frontend?.rawReplicas).toBe(expected.replicas);
    expect(frontend?.replicas).toBeGreaterThanOrEqual(expected.replicas);
    expect(frontend?.replicas).toBeGreaterThanOrEqual(2);
    expect(frontend?.replicas).toBeLessThanOrEqual(8);
    expect(frontend?.cpuPeakUpper).toBeGreaterThan(0.1);

    // The recommendation is exported for an HPA or KEDA to read.
    const gauge = await registry.getSingleMetric('anomaly_detector_recommended_replicas')!.get();
    expect(gauge.values).toContainEqual({
      labels: { detector: 'shop-capacity', namespace: 'shop', workload: 'frontend' },
      value: frontend!.replicas,
    });
    const forecasts = await registry.getSingleMetric('anomaly_detector_forecast')!.get();
    expect(forecasts.values.filter((v) => v.labels.workload === 'frontend')).toHaveLength(12);

    // Only the workload with patchHpa asked for a patch, and only as a dry run.
    expect(frontend?.hpa).toEqual({
      hpa: 'shop/frontend',
      fromMinReplicas: 1,
      toMinReplicas: frontend!.replicas,
      dryRun: true,
      changed: true,
    });
    expect(checkout?.hpa).toBeUndefined();
    expect(patches).toHaveLength(2);
    for (const patch of patches) {
      expect(patch).toEqual({
        name: 'frontend',
        namespace: 'shop',
        dryRun: 'All',
        body: [
          { op: 'test', path: '/spec/minReplicas', value: 1 },
          { op: 'replace', path: '/spec/minReplicas', value: expect.any(Number) },
        ],
      });
    }

    if (process.env.RECORD_HISTORIES) {
      await recordHistory(
        env.client,
        'forecast-shop-1',
        resolve(ROOT, 'test/fixtures/histories/forecast-capacity.json'),
      );
    }
  });

  it('fails at once, naming the field and the value, when the spec is invalid', async () => {
    const activities = createForecastingActivities({ metrics: createDetectorMetrics(new Registry()) });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'forecast-it-bad',
      workflowsPath: WORKFLOWS_PATH,
      activities,
    });

    const run = worker.runUntil(
      env.client.workflow.execute(forecastCapacity, {
        taskQueue: 'forecast-it-bad',
        workflowId: 'forecast-bad-spec',
        args: [{ name: 'bad', workloads: [{ namespace: 'shop', name: 'frontend', targetUtilisation: 1.5 }] }],
      }),
    );

    await expect(run).rejects.toMatchObject({
      cause: { cause: { message: expect.stringContaining("'/workloads/0/targetUtilisation'") } },
    });
    await expect(run).rejects.toMatchObject({
      cause: { cause: { message: expect.stringContaining('(got 1.5)'), nonRetryable: true } },
    });
  });
});
