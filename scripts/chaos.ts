/**
 * Injects chaos into a running simulated-cluster exporter.
 *
 *   npx tsx scripts/chaos.ts cpu-spike   [--workload shop/frontend] [--minutes 10] [--factor 3]
 *   npx tsx scripts/chaos.ts memory-leak [--workload shop/checkout] [--minutes 30] [--mib-per-minute 100]
 *   npx tsx scripts/chaos.ts clear
 *
 * `--exporter URL` (default $SIM_EXPORTER_URL, then http://127.0.0.1:9105) names the exporter.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const actions = ['cpu-spike', 'memory-leak', 'clear'] as const;
type Action = (typeof actions)[number];

export interface ChaosCommand {
  readonly action: Action;
  readonly url: string;
}

export function chaosCommand(argv: readonly string[], env = process.env): ChaosCommand {
  const { positionals, values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      workload: { type: 'string' },
      exporter: { type: 'string' },
      minutes: { type: 'string' },
      factor: { type: 'string' },
      'mib-per-minute': { type: 'string' },
    },
  });
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

async function main(): Promise<void> {
  const command = chaosCommand(process.argv.slice(2));
  const response = await fetch(command.url, { method: 'POST', signal: AbortSignal.timeout(5_000) });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`${command.url} answered HTTP ${response.status}: ${body}`);
  console.log(`${command.action}: ${body}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
