import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/config.js';

describe('loadConfig', () => {
  it('reads how to reach Kubernetes, auto by default', () => {
    expect(loadConfig({ CODE_VERSION: 'test' }).kubernetesAccess).toBe('auto');
    const config = loadConfig({
      CODE_VERSION: 'test',
      KUBERNETES_ACCESS: 'kubeconfig',
      KUBE_CONTEXT: 'staging',
    });
    expect(config).toMatchObject({ kubernetesAccess: 'kubeconfig', kubeContext: 'staging' });
  });

  it('names the variable and the value it cannot use', () => {
    expect(() => loadConfig({ CODE_VERSION: 'test', KUBERNETES_ACCESS: 'cluster' })).toThrow(
      new ConfigError('KUBERNETES_ACCESS (cluster) must be one of auto, in-cluster, kubeconfig, off'),
    );
    expect(() => loadConfig({ CODE_VERSION: 'test', API_PORT: '80000' })).toThrow(
      'API_PORT (80000) must be an integer from 0 to 65535',
    );
  });
});
