import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Deployment, V1StatefulSet, V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectKubernetes,
  createKubernetesClient,
  type KubernetesApis,
  parseQuantity,
} from '../../../clients/kubernetes.js';

const frontend: V1Deployment = {
  metadata: { name: 'frontend', namespace: 'shop' },
  spec: {
    replicas: 3,
    selector: {},
    template: {
      spec: {
        containers: [
          { name: 'app', resources: { requests: { cpu: '500m', memory: '256Mi' } } },
          { name: 'proxy', resources: { requests: { cpu: '0.1', memory: '64Mi' } } },
        ],
        initContainers: [{ name: 'migrate', resources: { requests: { cpu: '2', memory: '128Mi' } } }],
      },
    },
  },
};

const reporter: V1StatefulSet = {
  metadata: { name: 'reporter', namespace: 'batch' },
  spec: { selector: {}, serviceName: 'reporter', template: { spec: { containers: [{ name: 'reporter' }] } } },
};

const hpa: V2HorizontalPodAutoscaler = {
  metadata: { name: 'frontend', namespace: 'shop' },
  spec: {
    scaleTargetRef: { kind: 'Deployment', name: 'frontend', apiVersion: 'apps/v1' },
    minReplicas: 2,
    maxReplicas: 10,
  },
  status: { currentReplicas: 3, desiredReplicas: 4 },
};

function fakeApis() {
  const patches: unknown[] = [];
  const apis: KubernetesApis = {
    apps: {
      listNamespacedDeployment: async ({ namespace }) => ({ items: namespace === 'shop' ? [frontend] : [] }),
      listNamespacedStatefulSet: async ({ namespace }) => ({
        items: namespace === 'batch' ? [reporter] : [],
      }),
    },
    autoscaling: {
      listNamespacedHorizontalPodAutoscaler: async () => ({ items: [hpa] }),
      readNamespacedHorizontalPodAutoscaler: async ({ name }) => {
        if (name !== 'frontend') throw new Error(`horizontalpodautoscalers "${name}" not found`);
        return hpa;
      },
      patchNamespacedHorizontalPodAutoscaler: async (request) => {
        patches.push(request);
        return hpa;
      },
    },
  };
  return { apis, patches };
}

describe('createKubernetesClient', () => {
  it('sums container requests per pod, lets a larger init container win, and multiplies by replicas', async () => {
    const { apis } = fakeApis();
    const client = createKubernetesClient({ apis });

    const [workload] = await client.listWorkloads('shop');

    expect(workload).toEqual({
      kind: 'Deployment',
      namespace: 'shop',
      name: 'frontend',
      replicas: 3,
      containers: [
        { container: 'app', cpuCores: 0.5, memoryBytes: 256 * 1024 ** 2 },
        { container: 'proxy', cpuCores: 0.1, memoryBytes: 64 * 1024 ** 2 },
      ],
      podRequests: { cpuCores: 2, memoryBytes: 320 * 1024 ** 2 },
      totalRequests: { cpuCores: 6, memoryBytes: 960 * 1024 ** 2 },
    });
  });

  it('lists statefulsets with no requests as zero and one replica', async () => {
    const { apis } = fakeApis();
    const client = createKubernetesClient({ apis });

    const workloads = await client.listWorkloads('batch');

    expect(workloads).toEqual([
      {
        kind: 'StatefulSet',
        namespace: 'batch',
        name: 'reporter',
        replicas: 1,
        containers: [{ container: 'reporter', cpuCores: 0, memoryBytes: 0 }],
        podRequests: { cpuCores: 0, memoryBytes: 0 },
        totalRequests: { cpuCores: 0, memoryBytes: 0 },
      },
    ]);
  });

  it('finds the HPA that targets a workload', async () => {
    const client = createKubernetesClient(fakeApis());

    expect(await client.readHpa({ namespace: 'shop', kind: 'Deployment', workload: 'frontend' })).toEqual({
      name: 'frontend',
      namespace: 'shop',
      target: { kind: 'Deployment', name: 'frontend' },
      minReplicas: 2,
      maxReplicas: 10,
      currentReplicas: 3,
      desiredReplicas: 4,
    });
    expect(
      await client.readHpa({ namespace: 'shop', kind: 'StatefulSet', workload: 'frontend' }),
    ).toBeUndefined();
  });

  it('patches minReplicas as a dry run unless told otherwise, and logs what would change', async () => {
    const { apis, patches } = fakeApis();
    const logged: [string, Record<string, unknown> | undefined][] = [];
    const logger = {
      debug() {},
      warn() {},
      info: (message: string, fields?: Record<string, unknown>) => logged.push([message, fields]),
    };
    const client = createKubernetesClient({ apis, logger });

    const result = await client.setHpaMinReplicas({ namespace: 'shop', hpaName: 'frontend', minReplicas: 5 });

    const patch = [
      { op: 'test', path: '/spec/minReplicas', value: 2 },
      { op: 'replace', path: '/spec/minReplicas', value: 5 },
    ];
    expect(patches).toEqual([
      {
        name: 'frontend',
        namespace: 'shop',
        body: patch,
        fieldManager: 'k8s-anomaly-detector',
        dryRun: 'All',
      },
    ]);
    expect(result).toEqual({
      hpaName: 'frontend',
      namespace: 'shop',
      fromMinReplicas: 2,
      toMinReplicas: 5,
      dryRun: true,
      changed: true,
      patch,
    });
    expect(logged).toEqual([
      ['hpa minReplicas would change (dry run)', { hpa: 'shop/frontend', from: 2, to: 5, dryRun: true }],
    ]);
  });

  it('sends no dryRun parameter when dryRun is false', async () => {
    const { apis, patches } = fakeApis();
    const client = createKubernetesClient({ apis });

    await client.setHpaMinReplicas({ namespace: 'shop', hpaName: 'frontend', minReplicas: 4, dryRun: false });

    expect(patches[0]).not.toHaveProperty('dryRun');
  });

  it('sends nothing when minReplicas is already at the target', async () => {
    const { apis, patches } = fakeApis();
    const client = createKubernetesClient({ apis });

    const result = await client.setHpaMinReplicas({ namespace: 'shop', hpaName: 'frontend', minReplicas: 2 });

    expect(result.changed).toBe(false);
    expect(patches).toEqual([]);
  });

  it('refuses a minimum above the HPA maximum, naming both', async () => {
    const client = createKubernetesClient(fakeApis());

    await expect(
      client.setHpaMinReplicas({ namespace: 'shop', hpaName: 'frontend', minReplicas: 11 }),
    ).rejects.toThrow("'minReplicas' (11) is above maxReplicas (10) of HPA shop/frontend");
  });
});

describe('parseQuantity', () => {
  it('reads CPU and memory quantities', () => {
    expect(parseQuantity('250m')).toBeCloseTo(0.25);
    expect(parseQuantity('1.5')).toBe(1.5);
    expect(parseQuantity('1Gi')).toBe(1024 ** 3);
    expect(parseQuantity('1G')).toBe(1e9);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('512k')).toBe(512_000);
  });

  it('names the bad quantity', () => {
    expect(() => parseQuantity('1 GB', 'memory request')).toThrow(
      "memory request ('1 GB') is not a Kubernetes quantity",
    );
  });
});

describe('connectKubernetes', () => {
  let dir: string;
  let server: Server;
  let serverUrl: string;
  const requests: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
    // A stand-in API server: enough of the apps/v1 routes for listWorkloads.
    server = createServer((request, response) => {
      requests.push(`${request.method} ${request.url} ${request.headers.authorization ?? ''}`);
      const items = request.url?.endsWith('/deployments') ? [frontend] : [];
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await writeFile(
      join(dir, 'config'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        // Plain HTTP, which the client accepts only with TLS verification off.
        clusters: [{ name: 'local', cluster: { server: serverUrl, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'sre', user: { token: 'secret-token' } }],
        contexts: [{ name: 'staging', context: { cluster: 'local', user: 'sre' } }],
        'current-context': 'staging',
      }),
    );
  });

  afterAll(async () => {
    server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('in auto mode uses the kubeconfig it finds, with its credentials', async () => {
    const connection = connectKubernetes('auto', {}, { KUBECONFIG: join(dir, 'config') });
    expect(connection?.via).toBe('kubeconfig staging');
    const workloads = await connection!.client.listWorkloads('shop');
    expect(workloads.map((w) => `${w.kind}/${w.name}`)).toEqual(['Deployment/frontend']);
    expect(requests).toContain('GET /apis/apps/v1/namespaces/shop/deployments Bearer secret-token');
  });

  it('in auto mode is off where there is neither a pod nor a kubeconfig', () => {
    expect(connectKubernetes('auto', {}, { KUBECONFIG: join(dir, 'missing') })).toBeUndefined();
    expect(connectKubernetes('off', {}, { KUBECONFIG: join(dir, 'config') })).toBeUndefined();
  });

  it('names what is missing when an explicit mode has no credentials', () => {
    expect(() => connectKubernetes('kubeconfig', {}, { KUBECONFIG: join(dir, 'missing') })).toThrow(
      `no kubeconfig exists at KUBECONFIG (${join(dir, 'missing')})`,
    );
    expect(() => connectKubernetes('in-cluster', {}, {})).toThrow(/KUBERNETES_SERVICE_HOST is not set/);
    expect(() =>
      connectKubernetes('kubeconfig', { context: 'prod' }, { KUBECONFIG: join(dir, 'config') }),
    ).toThrow("kubeconfig context 'prod' does not exist; known contexts: staging");
  });
});
