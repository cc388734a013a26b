import { describe, expect, it } from 'vitest';
import {
  catalogueEntry,
  durationMs,
  escapePromqlString,
  escapeRegex,
  longestRangeMs,
  promqlCatalogue,
  renderQuery,
  renderWorkloadQueries,
} from '../../../clients/promql-catalogue.js';

describe('promqlCatalogue', () => {
  it('has unique ids, a description, a unit and both placeholders where a rate is taken', () => {
    const ids = promqlCatalogue.map((entry) => entry.id);

    expect(new Set(ids).size).toBe(ids.length);
    for (const entry of promqlCatalogue) {
      expect(entry.description.length).toBeGreaterThan(10);
      expect(entry.promql).toContain('{{selector}}');
      if (/rate\(|increase\(/.test(entry.promql)) expect(entry.promql).toContain('{{window}}');
    }
  });

  it('covers CPU, memory, restarts, throttling, traffic, errors and latency', () => {
    expect(promqlCatalogue.map((entry) => entry.id)).toEqual([
      'cpu_usage_cores',
      'cpu_usage_to_requests_ratio',
      'memory_working_set_bytes',
      'memory_working_set_to_limits_ratio',
      'container_restarts',
      'cpu_throttled_ratio',
      'http_request_rate',
      'http_error_ratio',
      'http_latency_p99_seconds',
    ]);
  });
});

describe('renderQuery', () => {
  it('renders CPU against requests for a deployment, with the workload label added', () => {
    const query = renderQuery(
      catalogueEntry('cpu_usage_to_requests_ratio'),
      { namespace: 'shop', workload: 'frontend', kind: 'Deployment' },
      { window: '2m' },
    );

    const pods = 'pod=~"frontend-[a-z0-9]{1,10}-[a-z0-9]{5}"';
    expect(query).toBe(
      'label_replace(' +
        `sum by (namespace) (rate(container_cpu_usage_seconds_total{namespace="shop",${pods},container!="",container!="POD"}[2m]))` +
        ` / sum by (namespace) (kube_pod_container_resource_requests{namespace="shop",${pods},resource="cpu"})` +
        ', "workload", "frontend", "", "")',
    );
  });

  it('matches both deployment and statefulset pod names when the kind is not given', () => {
    const query = renderQuery(catalogueEntry('container_restarts'), {
      namespace: 'batch',
      workload: 'reporter',
    });

    expect(query).toContain('pod=~"reporter-([a-z0-9]{1,10}-[a-z0-9]{5}|[0-9]+)"');
    expect(query).toContain('[5m]');
  });

  it('escapes quotes and backslashes in a namespace so they cannot end the string', () => {
    const query = renderQuery(catalogueEntry('memory_working_set_bytes'), {
      namespace: 'a"} or vector(1) #\\',
      workload: 'w',
    });

    expect(query).toContain('namespace="a\\"} or vector(1) #\\\\"');
  });

  it('escapes regex metacharacters in a workload name so it matches only itself', () => {
    const query = renderQuery(catalogueEntry('http_request_rate'), {
      namespace: 'ns',
      workload: 'api.v2+(x)',
      kind: 'StatefulSet',
    });

    // The regex needs `\.`; inside a PromQL string the backslash itself is escaped.
    expect(query).toContain('pod=~"api\\\\.v2\\\\+\\\\(x\\\\)-[0-9]+"');
  });

  it('keeps a dollar in a workload name literal in the label_replace replacement', () => {
    const query = renderQuery(catalogueEntry('http_request_rate'), { namespace: 'ns', workload: 'w$1' });

    expect(query).toMatch(/"workload", "w\$\$1", "", ""\)$/);
  });

  it('rejects a window that is not a duration, naming it', () => {
    expect(() =>
      renderQuery(
        catalogueEntry('http_request_rate'),
        { namespace: 'ns', workload: 'w' },
        { window: '5m]) or (x' },
      ),
    ).toThrow("'window' ('5m]) or (x') must be a Prometheus duration");
  });

  it('rejects an empty namespace', () => {
    expect(() => renderQuery(catalogueEntry('http_request_rate'), { namespace: '', workload: 'w' })).toThrow(
      "'namespace' ('') must not be empty",
    );
  });

  it('renders every entry for a workload, leaving no placeholder', () => {
    const queries = renderWorkloadQueries({ namespace: 'shop', workload: 'checkout' });

    expect(Object.keys(queries)).toHaveLength(promqlCatalogue.length);
    for (const query of Object.values(queries)) expect(query).not.toMatch(/\{\{|\}\}\}/);
  });
});

describe('catalogueEntry', () => {
  it('names the unknown id and lists the known ones', () => {
    expect(() => catalogueEntry('cpu')).toThrow(
      "catalogue entry 'cpu' does not exist; known entries: cpu_usage_cores,",
    );
  });
});

describe('escaping helpers', () => {
  it('escapes line breaks in strings', () => {
    expect(escapePromqlString('a\nb\rc')).toBe('a\\nb\\rc');
  });

  it('escapes every RE2 metacharacter', () => {
    expect(escapeRegex('.+*?()|[]{}^$\\')).toBe('\\.\\+\\*\\?\\(\\)\\|\\[\\]\\{\\}\\^\\$\\\\');
  });
});

describe('PromQL ranges', () => {
  it('reads durations with several units and refuses what is not one', () => {
    expect(durationMs('90s')).toBe(90_000);
    expect(durationMs('1h30m')).toBe(5_400_000);
    expect(durationMs('250ms')).toBe(250);
    expect(durationMs('5 m')).toBeNaN();
  });

  it('finds the longest range selector, counting a subquery by its range', () => {
    expect(longestRangeMs('sum(rate(a[10s])) / sum(rate(b[5m]))')).toBe(300_000);
    expect(longestRangeMs('max_over_time(rate(a[1m])[1h:30s])')).toBe(3_600_000);
    expect(longestRangeMs('sum(container_memory_working_set_bytes{pod=~"x-.*"})')).toBe(0);
  });

  it('reads the window of every rendered catalogue query', () => {
    const queries = renderWorkloadQueries({ namespace: 'shop', workload: 'frontend' }, { window: '2m' });

    for (const [id, query] of Object.entries(queries)) {
      expect(longestRangeMs(query), id).toBe(query.includes('[2m]') ? 120_000 : 0);
    }
  });
});
