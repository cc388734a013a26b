/**
 * Records the history of a finished workflow as JSON for replay tests:
 *   tsx scripts/record-history.ts <workflowId> <out.json> [--address localhost:7233]
 * Replay tests then run the current workflow code against it and fail on any nondeterminism.
 * An existing file is never overwritten: an old history is what proves that old runs still replay.
 */
import { writeFile } from 'node:fs/promises';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

export async function recordHistory(client: Client, workflowId: string, out: string): Promise<boolean> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  try {
    // Proto3 JSON, the format of `temporal workflow show --output json`, which replay reads back.
    await writeFile(out, `${historyToJSON(history)}\n`, { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function main(): Promise<void> {
  const [workflowId, out] = process.argv.slice(2);
  const addressFlag = process.argv.indexOf('--address');
  const address =
    addressFlag > 0 ? process.argv[addressFlag + 1] : (process.env.TEMPORAL_ADDRESS ?? 'localhost:7233');
  if (!workflowId || !out) {
    console.error('usage: tsx scripts/record-history.ts <workflowId> <out.json> [--address host:port]');
    process.exit(2);
  }
  const connection = await Connection.connect({ address });
  const written = await recordHistory(new Client({ connection }), workflowId, out);
  await connection.close();
  console.log(written ? `wrote ${out}` : `${out} exists; left as it is (remove it to record again)`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
