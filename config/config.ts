import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { KubernetesAccess } from '../clients/kubernetes.js';

/** Settings shared by the workers and the API, read once from the environment and frozen. */
export interface AppConfig {
  /** Temporal frontend, `host:port`. @default 'localhost:7233' (the dev server) */
  readonly temporalAddress: string;
  /** @default 'default' */
  readonly temporalNamespace: string;
  /** Task queue of training work. @default 'training' */
  readonly trainingTaskQueue: string;
  /** Task queue of scoring work. @default 'scoring' */
  readonly scoringTaskQueue: string;
  /** Registry and artifacts live here. @default './data' (resolved against the working directory) */
  readonly dataDir: string;
  /** Default Prometheus for sources that name none. @default undefined */
  readonly prometheusUrl?: string;
  /** Alertmanager v2 base URL; alerts are only logged when absent. @default undefined */
  readonly alertmanagerUrl?: string;
  /** Port of the scoring worker's /metrics endpoint; 0 picks a free one. @default 9464 */
  readonly scoringMetricsPort: number;
  /** @default '127.0.0.1'; '0.0.0.0' in a container */
  readonly apiHost: string;
  /** @default 8080 */
  readonly apiPort: number;
  /** Largest request body the API accepts. @default 1048576 (1 MiB: ~20k points) */
  readonly apiBodyLimitBytes: number;
  /**
   * How the scoring worker reaches Kubernetes, to read workloads' requests and patch HPAs:
   * `in-cluster` (the pod's service account), `kubeconfig` ($KUBECONFIG, then ~/.kube/config),
   * `off`, or `auto`: in-cluster inside a pod, else a kubeconfig where one exists, else off.
   * @default 'auto'
   */
  readonly kubernetesAccess: KubernetesAccess;
  /** Kubeconfig context to use. @default the kubeconfig's current context */
  readonly kubeContext?: string;
  /** @default 'info' */
  readonly logLevel: string;
  readonly codeVersion: string;
}

export const KUBERNETES_ACCESS: readonly KubernetesAccess[] = ['auto', 'in-cluster', 'kubeconfig', 'off'];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return Object.freeze({
    temporalAddress: env.TEMPORAL_ADDRESS ?? 'localhost:7233',
    temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
    trainingTaskQueue: env.TRAINING_TASK_QUEUE ?? 'training',
    scoringTaskQueue: env.SCORING_TASK_QUEUE ?? 'scoring',
    dataDir: resolve(env.DATA_DIR ?? 'data'),
    ...(env.PROMETHEUS_URL ? { prometheusUrl: env.PROMETHEUS_URL } : {}),
    ...(env.ALERTMANAGER_URL ? { alertmanagerUrl: env.ALERTMANAGER_URL } : {}),
    scoringMetricsPort: integer(env, 'SCORING_METRICS_PORT', 9464, 0, 65535),
    apiHost: env.API_HOST ?? '127.0.0.1',
    apiPort: integer(env, 'API_PORT', 8080, 0, 65535),
    apiBodyLimitBytes: integer(env, 'API_BODY_LIMIT_BYTES', 1_048_576, 1024, 512 * 1_048_576),
    kubernetesAccess: oneOf(env, 'KUBERNETES_ACCESS', KUBERNETES_ACCESS, 'auto'),
    ...(env.KUBE_CONTEXT ? { kubeContext: env.KUBE_CONTEXT } : {}),
    logLevel: env.LOG_LEVEL ?? 'info',
    codeVersion: env.CODE_VERSION ?? detectCodeVersion(),
  });
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} (${raw}) must be an integer from ${min} to ${max}`);
  }
  return value;
}

function oneOf<T extends string>(
  env: NodeJS.ProcessEnv,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} (${raw}) must be one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

let cachedCodeVersion: string | undefined;

/** `<package version>+<commit>`; the commit is left out where git or the checkout is absent. */
export function detectCodeVersion(): string {
  if (cachedCodeVersion) return cachedCodeVersion;
  const root = resolve(import.meta.dirname, '..');
  const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { version: string };
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
  } catch {
    // Not a git checkout (a container image): the package version alone identifies the code.
  }
  cachedCodeVersion = commit ? `${pkg.version}+${commit}` : pkg.version;
  return cachedCodeVersion;
}
