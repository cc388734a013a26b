import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  AppsV1Api,
  AutoscalingV2Api,
  KubeConfig,
  type V1Container,
  type V1PodSpec,
  type V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import { type ClientLogger, silentLogger } from './http.js';

/** The calls this module makes; the generated API classes satisfy it, and so does a plain fake. */
export interface KubernetesApis {
  readonly apps: Pick<AppsV1Api, 'listNamespacedDeployment' | 'listNamespacedStatefulSet'>;
  readonly autoscaling: Pick<
    AutoscalingV2Api,
    | 'listNamespacedHorizontalPodAutoscaler'
    | 'readNamespacedHorizontalPodAutoscaler'
    | 'patchNamespacedHorizontalPodAutoscaler'
  >;
}

export interface KubeConfigOptions {
  /**
   * `true` reads the service account mounted in the pod, `false` a kubeconfig file.
   * @default true when KUBERNETES_SERVICE_HOST is set, as it is inside a pod
   */
  readonly inCluster?: boolean;
  /** @default $KUBECONFIG, then ~/.kube/config */
  readonly kubeconfigPath?: string;
  /** @default the kubeconfig's current context */
  readonly context?: string;
}

export function loadKubeConfig(options: KubeConfigOptions = {}, env = process.env): KubeConfig {
  const config = new KubeConfig();
  const inCluster = options.inCluster ?? env.KUBERNETES_SERVICE_HOST !== undefined;
  if (inCluster) config.loadFromCluster();
  else if (options.kubeconfigPath !== undefined) config.loadFromFile(options.kubeconfigPath);
  else config.loadFromDefault();
  if (options.context !== undefined) {
    if (!config.getContexts().some((context) => context.name === options.context)) {
      const known = config.getContexts().map((context) => context.name);
      throw new Error(
        `kubeconfig context '${options.context}' does not exist; known contexts: ${known.join(', ')}`,
      );
    }
    config.setCurrentContext(options.context);
  }
  return config;
}

export function createKubernetesApis(config: KubeConfig): KubernetesApis {
  return { apps: config.makeApiClient(AppsV1Api), autoscaling: config.makeApiClient(AutoscalingV2Api) };
}

/**
 * How a process reaches Kubernetes: the pod's service account, a kubeconfig file, not at all, or
 * `auto`: the service account inside a pod, else a kubeconfig where one exists, else not at all.
 */
export type KubernetesAccess = 'auto' | 'in-cluster' | 'kubeconfig' | 'off';

export interface KubernetesConnection {
  readonly client: KubernetesClient;
  /** What it connected with, for the start-up log: `in-cluster` or `kubeconfig <context>`. */
  readonly via: string;
}

/**
 * The Kubernetes client `access` asks for, or undefined when it is `off` or `auto` finds no
 * credentials. An explicit mode whose credentials are missing is an error that says which.
 */
export function connectKubernetes(
  access: KubernetesAccess,
  options: { readonly context?: string; readonly logger?: ClientLogger } = {},
  env: NodeJS.ProcessEnv = process.env,
): KubernetesConnection | undefined {
  if (access === 'off') return undefined;
  const inPod = env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '';
  const searched = env.KUBECONFIG ? `KUBECONFIG (${env.KUBECONFIG})` : join(homedir(), '.kube', 'config');
  const kubeconfigs = (env.KUBECONFIG ? env.KUBECONFIG.split(delimiter) : [searched]).filter(
    (path) => path !== '' && existsSync(path),
  );
  const inCluster = access === 'in-cluster' || (access === 'auto' && inPod);
  if (inCluster && !inPod) {
    throw new Error(
      "Kubernetes access is 'in-cluster' but KUBERNETES_SERVICE_HOST is not set: this is not a pod",
    );
  }
  if (!inCluster && kubeconfigs.length === 0) {
    if (access === 'auto') return undefined;
    throw new Error(`Kubernetes access is 'kubeconfig' but no kubeconfig exists at ${searched}`);
  }
  const config = loadKubeConfig(
    {
      inCluster,
      // Several files in KUBECONFIG are merged by the default loader.
      ...(!inCluster && kubeconfigs.length === 1 ? { kubeconfigPath: kubeconfigs[0]! } : {}),
      ...(options.context ? { context: options.context } : {}),
    },
    env,
  );
  return {
    client: createKubernetesClient({
      apis: createKubernetesApis(config),
      ...(options.logger ? { logger: options.logger } : {}),
    }),
    via: inCluster ? 'in-cluster' : `kubeconfig ${config.getCurrentContext()}`,
  };
}

export type WorkloadKind = 'Deployment' | 'StatefulSet';

export interface ResourceAmounts {
  readonly cpuCores: number;
  readonly memoryBytes: number;
}

export interface ContainerRequests extends ResourceAmounts {
  readonly container: string;
}

export interface Workload {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
  /** Desired replicas from the spec (1 when unset, as Kubernetes defaults it). */
  readonly replicas: number;
  readonly containers: readonly ContainerRequests[];
  /**
   * What the scheduler reserves for one pod: the larger of the containers' sum and the largest
   * init container, per resource.
   */
  readonly podRequests: ResourceAmounts;
  /** `podRequests` times `replicas`. */
  readonly totalRequests: ResourceAmounts;
}

export interface HpaSummary {
  readonly name: string;
  readonly namespace: string;
  readonly target: { readonly kind: string; readonly name: string };
  /** Kubernetes defaults an unset minReplicas to 1. */
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly currentReplicas?: number;
  readonly desiredReplicas?: number;
}

export interface SetMinReplicasInput {
  readonly namespace: string;
  readonly hpaName: string;
  readonly minReplicas: number;
  /**
   * When true the API server validates and answers the patch without storing it.
   * @default true: changing a live autoscaler needs an explicit `dryRun: false`
   */
  readonly dryRun?: boolean;
}

export interface SetMinReplicasResult {
  readonly hpaName: string;
  readonly namespace: string;
  readonly fromMinReplicas: number;
  readonly toMinReplicas: number;
  readonly dryRun: boolean;
  /** False when the HPA already had this minimum, so nothing was sent. */
  readonly changed: boolean;
  /** The JSON patch sent (or that would be sent). */
  readonly patch: readonly JsonPatchOperation[];
}

export interface JsonPatchOperation {
  readonly op: 'test' | 'replace' | 'add';
  readonly path: string;
  readonly value: unknown;
}

export interface KubernetesClient {
  listWorkloads(namespace: string): Promise<Workload[]>;
  /** The HPA whose scale target is the workload, or undefined when it has none. */
  readHpa(input: {
    namespace: string;
    kind: WorkloadKind;
    workload: string;
  }): Promise<HpaSummary | undefined>;
  setHpaMinReplicas(input: SetMinReplicasInput): Promise<SetMinReplicasResult>;
}

export interface KubernetesClientOptions {
  readonly apis: KubernetesApis;
  readonly logger?: ClientLogger;
  /** Recorded by the API server as the manager of the fields this client changes. */
  readonly fieldManager?: string;
}

export function createKubernetesClient(options: KubernetesClientOptions): KubernetesClient {
  const { apps, autoscaling } = options.apis;
  const log = options.logger ?? silentLogger;
  const fieldManager = options.fieldManager ?? 'k8s-anomaly-detector';

  return {
    async listWorkloads(namespace) {
      const [deployments, statefulSets] = await Promise.all([
        apps.listNamespacedDeployment({ namespace }),
        apps.listNamespacedStatefulSet({ namespace }),
      ]);
      const workloads = [
        ...deployments.items.map((item) => ({ kind: 'Deployment' as const, item })),
        ...statefulSets.items.map((item) => ({ kind: 'StatefulSet' as const, item })),
      ];
      return workloads.map(({ kind, item }) =>
        describeWorkload(
          kind,
          namespace,
          item.metadata?.name ?? '',
          item.spec?.replicas,
          item.spec?.template.spec,
        ),
      );
    },

    async readHpa({ namespace, kind, workload }) {
      const list = await autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace });
      const hpa = list.items.find(
        (item) => item.spec?.scaleTargetRef.kind === kind && item.spec.scaleTargetRef.name === workload,
      );
      return hpa === undefined ? undefined : summariseHpa(hpa, namespace);
    },

    async setHpaMinReplicas(input) {
      const dryRun = input.dryRun ?? true;
      if (!Number.isInteger(input.minReplicas) || input.minReplicas < 1) {
        throw new Error(`'minReplicas' (${input.minReplicas}) must be an integer of at least 1`);
      }
      const hpa = summariseHpa(
        await autoscaling.readNamespacedHorizontalPodAutoscaler({
          name: input.hpaName,
          namespace: input.namespace,
        }),
        input.namespace,
      );
      if (input.minReplicas > hpa.maxReplicas) {
        throw new Error(
          `'minReplicas' (${input.minReplicas}) is above maxReplicas (${hpa.maxReplicas}) of HPA ${input.namespace}/${input.hpaName}`,
        );
      }
      const patch = minReplicasPatch(hpa.minReplicas, input.minReplicas);
      const result = {
        hpaName: input.hpaName,
        namespace: input.namespace,
        fromMinReplicas: hpa.minReplicas,
        toMinReplicas: input.minReplicas,
        dryRun,
        changed: hpa.minReplicas !== input.minReplicas,
        patch,
      };
      if (!result.changed) {
        log.info('hpa minReplicas already at target', {
          hpa: `${input.namespace}/${input.hpaName}`,
          minReplicas: hpa.minReplicas,
        });
        return result;
      }

      await autoscaling.patchNamespacedHorizontalPodAutoscaler({
        name: input.hpaName,
        namespace: input.namespace,
        body: patch,
        fieldManager,
        ...(dryRun && { dryRun: 'All' }),
      });
      log.info(dryRun ? 'hpa minReplicas would change (dry run)' : 'hpa minReplicas changed', {
        hpa: `${input.namespace}/${input.hpaName}`,
        from: hpa.minReplicas,
        to: input.minReplicas,
        dryRun,
      });
      return result;
    },
  };
}

/**
 * A JSON patch (the client's default content type) that first tests the value it read, so a
 * concurrent change makes the API server refuse the patch instead of being overwritten.
 */
export function minReplicasPatch(current: number, target: number): JsonPatchOperation[] {
  return [
    { op: 'test', path: '/spec/minReplicas', value: current },
    { op: 'replace', path: '/spec/minReplicas', value: target },
  ];
}

export function describeWorkload(
  kind: WorkloadKind,
  namespace: string,
  name: string,
  replicas: number | undefined,
  podSpec: V1PodSpec | undefined,
): Workload {
  const containers = (podSpec?.containers ?? []).map((container) => ({
    container: container.name,
    ...containerRequests(container, `${namespace}/${name}`),
  }));
  const inits = (podSpec?.initContainers ?? []).map((container) =>
    containerRequests(container, `${namespace}/${name}`),
  );
  const sum = (key: keyof ResourceAmounts) => containers.reduce((total, c) => total + c[key], 0);
  const maxInit = (key: keyof ResourceAmounts) => Math.max(0, ...inits.map((c) => c[key]));
  const podRequests = {
    cpuCores: Math.max(sum('cpuCores'), maxInit('cpuCores')),
    memoryBytes: Math.max(sum('memoryBytes'), maxInit('memoryBytes')),
  };
  const count = replicas ?? 1;
  return {
    kind,
    namespace,
    name,
    replicas: count,
    containers,
    podRequests,
    totalRequests: { cpuCores: podRequests.cpuCores * count, memoryBytes: podRequests.memoryBytes * count },
  };
}

function containerRequests(container: V1Container, where: string): ResourceAmounts {
  const requests = container.resources?.requests ?? {};
  const context = `${where} container '${container.name}'`;
  return {
    cpuCores: requests.cpu === undefined ? 0 : parseQuantity(requests.cpu, `${context} cpu request`),
    memoryBytes:
      requests.memory === undefined ? 0 : parseQuantity(requests.memory, `${context} memory request`),
  };
}

function summariseHpa(hpa: V2HorizontalPodAutoscaler, namespace: string): HpaSummary {
  return {
    name: hpa.metadata?.name ?? '',
    namespace: hpa.metadata?.namespace ?? namespace,
    target: { kind: hpa.spec?.scaleTargetRef.kind ?? '', name: hpa.spec?.scaleTargetRef.name ?? '' },
    minReplicas: hpa.spec?.minReplicas ?? 1,
    maxReplicas: hpa.spec?.maxReplicas ?? 0,
    ...(hpa.status?.currentReplicas !== undefined && { currentReplicas: hpa.status.currentReplicas }),
    ...(hpa.status?.desiredReplicas !== undefined && { desiredReplicas: hpa.status.desiredReplicas }),
  };
}

const SUFFIXES: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
};

/** Parses a Kubernetes quantity (`500m`, `1.5`, `128Mi`, `1G`, `1e3`) into a plain number. */
export function parseQuantity(quantity: string, what = 'quantity'): number {
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(
    quantity.trim(),
  );
  if (match === null)
    throw new Error(`${what} ('${quantity}') is not a Kubernetes quantity such as '500m' or '128Mi'`);
  return Number(match[1]) * SUFFIXES[match[2] ?? '']!;
}
