/**
 * Injects chaos into a running simulated-cluster exporter.
 *
 *   npx tsx scripts/chaos.ts cpu-spike   [--workload shop/frontend] [--minutes 10] [--factor 3]
 *   npx tsx scripts/chaos.ts memory-leak [--workload shop/checkout] [--minutes 30] [--mib-per-minute 100]
 *   npx tsx scripts/chaos.ts clear
 *
 * `--exporter URL` (default $SIM_EXPORTER_URL, then http://127.0.0.1:9105) names the exporter.
 *
 * After a CPU spike it waits for the workload's alert in Alertmanager (`--alertmanager URL`,
 * default $ALERTMANAGER_URL, then the demo's http://127.0.0.1:9093) and prints how long it took;
 * `--wait-seconds` bounds the wait (default 60, 0 skips it).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const actions = ['cpu-spike', 'memory-leak', 'clear'] as const;
type Action = (typeof actions)[number];

export interface ChaosCommand {
  readonly action: Action;
  readonly url: string;
}

const OPTIONS = {
  workload: { type: 'string' },
  exporter: { type: 'string' },
  minutes: { type: 'string' },
  factor: { type: 'string' },
  'mib-per-minute': { type: 'string' },
  alertmanager: { type: 'string' },
  'wait-seconds': { type: 'string' },
} as const;

export function chaosCommand(argv: readonly string[], env = process.env): ChaosCommand {
  const { positionals, values } = parseArgs({ args: [...argv], allowPositionals: true, options: OPTIONS });
  const action = positionals[0];
  if (!actions.includes(action as Action)) {
    throw new Error(`action '${action ?? ''}' must be one of ${actions.join(', ')}`);
  }
  const base = (values.exporter ?? env.SIM_EXPORTER_URL ?? 'http://127.0.0.1:9105').replace(/\/+$/, '');
  const params = new URLSearchParams();
  if (action === 'cpu-spike' || action === 'memory-leak') {
    params.set('workload', values.workload ?? (action === 'cpu-spike' ? 'shop/frontend' : 'shop/checkout'));
    if (values.minutes !== undefined) params.set('minutes', values.minutes);
  }
  if (action === 'cpu-spike' && values.factor !== undefined) params.set('factor', values.factor);
  if (action === 'memory-leak' && values['mib-per-minute'] !== undefined) {
    params.set('mebibytesPerMinute', values['mib-per-minute']);
  }
  const query = params.size > 0 ? `?${params}` : '';
  return { action: action as Action, url: `${base}/chaos/${action}${query}` };
}

export interface AlertWait {
  /** `GET /api/v2/alerts` with matchers for the workload's anomaly alerts. */
  readonly url: string;
  readonly timeoutMs: number;
}

/** Where and how long to wait for the alert a CPU spike should raise; undefined when not waiting. */
export function alertWaitOf(argv: readonly string[], env = process.env): AlertWait | undefined {
  const { positionals, values } = parseArgs({ args: [...argv], allowPositionals: true, options: OPTIONS });
  const seconds = Number(values['wait-seconds'] ?? 60);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`'--wait-seconds' (${values['wait-seconds']}) must be a number of seconds, 0 or more`);
  }
  if (positionals[0] !== 'cpu-spike' || seconds === 0) return undefined;
  const [namespace = '', workload = ''] = (values.workload ?? 'shop/frontend').split('/');
  const base = (values.alertmanager ?? env.ALERTMANAGER_URL ?? 'http://127.0.0.1:9093').replace(/\/+$/, '');
  const params = new URLSearchParams();
  params.append('filter', 'alertname="WorkloadAnomaly"');
  params.append('filter', `namespace="${namespace}"`);
  params.append('filter', `workload="${workload}"`);
  return { url: `${base}/api/v2/alerts?${params}`, timeoutMs: seconds * 1000 };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const command = chaosCommand(argv);
  const wait = alertWaitOf(argv);
  const response = await fetch(command.url, { method: 'POST', signal: AbortSignal.timeout(5_000) });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`${command.url} answered HTTP ${response.status}: ${body}`);
  const injectedAt = Date.now();
  console.log(`${command.action}: ${body}`);
  if (wait === undefined) return;

  console.log(`waiting up to ${wait.timeoutMs / 1000} s for the alert in Alertmanager`);
  const deadline = injectedAt + wait.timeoutMs;
  let lastProblem = '';
  while (Date.now() < deadline) {
    try {
      const reply = await fetch(wait.url, { signal: AbortSignal.timeout(2_000) });
      const alerts = (await reply.json()) as { startsAt: string; labels: Record<string, string> }[];
      // Alerts that began before the spike belong to an earlier episode.
      const fresh = alerts.find((alert) => Date.parse(alert.startsAt) >= injectedAt - 2_000);
      if (fresh !== undefined) {
        const seconds = ((Date.now() - injectedAt) / 1000).toFixed(1);
        console.log(
          `alert reached Alertmanager ${seconds} s after the spike: ${JSON.stringify(fresh.labels)}`,
        );
        return;
      }
      lastProblem = '';
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const why = lastProblem === '' ? '' : ` (last error asking Alertmanager: ${lastProblem})`;
  console.error(
    `no alert reached Alertmanager within ${wait.timeoutMs / 1000} s${why}. Is \`npm run demo\` running with Prometheus and Alertmanager installed?`,
  );
  process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
