import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort } from './servers.js';

const ROOT = resolve(import.meta.dirname, '../..');

export interface SimExporterProcess {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** `127.0.0.1:<port>`, as a Prometheus scrape target. */
  readonly target: string;
  close(): Promise<void>;
}

/**
 * The simulated cluster's exporter in a process of its own, as a cluster's exporters are: a test
 * that also trains models in its own process would otherwise stall the exporter's replies while a
 * model fits, and Prometheus would stamp the late scrapes with the time it asked.
 */
export async function startSimExporterProcess(options: { seed: number }): Promise<SimExporterProcess> {
  const port = await freePort();
  // Node itself with tsx as a loader, so killing the child kills the exporter.
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'sim/exporter.ts', '--port', String(port), '--seed', String(options.seed)],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`the simulated exporter exited with code ${child.exitCode}: ${stderr}`);
    }
    const healthy = await fetch(`${url}/-/healthy`).then(
      (r) => r.ok,
      () => false,
    );
    if (healthy) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the simulated exporter did not answer on ${url} within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, target: `127.0.0.1:${port}`, close: () => stop(child) };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}
