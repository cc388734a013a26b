/**
 * Starts the real Prometheus and Alertmanager binaries (for integration tests and the demo): loopback only, free
 * ports, temporary data folders, ready before the promise resolves, killed by `stop()`. Also the simulated cluster's
 * exporter as a process of its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const PROMETHEUS_BINARY = process.env.PROMETHEUS_BINARY ?? '/usr/bin/prometheus';
export const ALERTMANAGER_BINARY = process.env.ALERTMANAGER_BINARY ?? '/usr/bin/prometheus-alertmanager';

export interface RunningServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** What the process wrote to stdout and stderr so far, for failure messages. */
  output(): string;
  /** Stops the process; removes the data folder unless it was passed in. */
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** `host:port` of each target, scraped at `/metrics`. */
  readonly scrapeTargets: readonly string[];
  /** @default 1 */
  readonly scrapeIntervalSeconds?: number;
  /** @default a new temporary folder, removed on stop */
  readonly dataDir?: string;
  /** @default a free port */
  readonly port?: number;
}

export interface StartAlertmanagerOptions {
  /** Reuse a folder to restart with the same state; @default a new temporary folder, removed on stop */
  readonly dataDir?: string;
  /** Pass the port of a stopped instance to restart it at the same address; @default a free port */
  readonly port?: number;
  /** @default '5m', Alertmanager's own default */
  readonly resolveTimeout?: string;
}

export interface StartSimExporterOptions {
  /** @default 1 */
  readonly seed?: number;
  /** @default a free port */
  readonly port?: number;
}

/**
 * The simulated cluster's exporter (`sim/exporter.ts`) in a process of its own, as a cluster's exporters are:
 * beside models that fit in the same process, its replies would stall while a model fits, and Prometheus stamps
 * a late scrape with the time it asked. Node runs it with tsx as a loader, so stopping the child stops the exporter.
 * Its `dataDir` is empty: it keeps no files.
 */
export async function startSimExporterProcess(
  options: StartSimExporterOptions = {},
): Promise<RunningServer & { readonly target: string }> {
  const port = options.port ?? (await freePort());
  const root = path.resolve(import.meta.dirname, '..');
  const server = await launch({
    binary: process.execPath,
    args: [
      '--import',
      'tsx',
      path.join(root, 'sim', 'exporter.ts'),
      '--port',
      String(port),
      '--seed',
      String(options.seed ?? 1),
    ],
    cwd: root,
    port,
    dataDir: '',
    ownsDir: false,
  });
  return { ...server, target: `127.0.0.1:${port}` };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startPrometheus(options: StartPrometheusOptions): Promise<RunningServer> {
  const interval = options.scrapeIntervalSeconds ?? 1;
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'prometheus-')));
  await mkdir(dataDir, { recursive: true });
  const configFile = path.join(dataDir, 'prometheus.yml');
  const targets = options.scrapeTargets.map((target) => JSON.stringify(target)).join(', ');
  await writeFile(
    configFile,
    [
      'global:',
      `  scrape_interval: ${interval}s`,
      `  evaluation_interval: ${interval}s`,
      'scrape_configs:',
      '  - job_name: sim',
      `    static_configs: [{ targets: [${targets}] }]`,
      '',
    ].join('\n'),
  );
  const port = options.port ?? (await freePort());
  return launch({
    binary: PROMETHEUS_BINARY,
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dataDir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    port,
    dataDir,
    ownsDir,
  });
}

export async function startAlertmanager(options: StartAlertmanagerOptions = {}): Promise<RunningServer> {
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'alertmanager-')));
  await mkdir(dataDir, { recursive: true });
  const configFile = path.join(dataDir, 'alertmanager.yml');
  await writeFile(
    configFile,
    [
      'global:',
      `  resolve_timeout: ${options.resolveTimeout ?? '5m'}`,
      'route:',
      '  receiver: blackhole',
      'receivers:',
      '  - name: blackhole',
      '',
    ].join('\n'),
  );
  const port = options.port ?? (await freePort());
  return launch({
    binary: ALERTMANAGER_BINARY,
    args: [
      `--config.file=${configFile}`,
      `--storage.path=${path.join(dataDir, 'storage')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty: no gossip listener, which would otherwise bind 0.0.0.0:9094.
      '--cluster.listen-address=',
    ],
    port,
    dataDir,
    ownsDir,
  });
}

interface LaunchInput {
  readonly binary: string;
  readonly args: string[];
  readonly cwd?: string;
  readonly port: number;
  readonly dataDir: string;
  readonly ownsDir: boolean;
}

async function launch(input: LaunchInput): Promise<RunningServer> {
  const url = `http://127.0.0.1:${input.port}`;
  const child = spawn(input.binary, input.args, { cwd: input.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    await kill(child, exited);
    if (input.ownsDir) await rm(input.dataDir, { recursive: true, force: true });
  };

  try {
    await waitUntilReady(url, child, () => output);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, port: input.port, dataDir: input.dataDir, output: () => output, stop };
}

async function waitUntilReady(
  url: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${child.spawnfile} exited with code ${child.exitCode} before ready:\n${output()}`);
    }
    try {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${child.spawnfile} at ${url} was not ready after ${timeoutMs} ms:\n${output()}`);
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const forced = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(forced);
}
