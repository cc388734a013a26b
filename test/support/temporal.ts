import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';

const ROOT = resolve(import.meta.dirname, '../..');

/** The pinned binaries that scripts/setup installs into .tools/bin; an env var may point elsewhere. */
export function temporalCliPath(): string {
  return binary(process.env.TEMPORAL_CLI_PATH ?? resolve(ROOT, '.tools/bin/temporal'), 'temporal');
}

export function temporalTestServerPath(): string {
  return binary(
    process.env.TEMPORAL_TEST_SERVER_PATH ?? resolve(ROOT, '.tools/bin/temporal-test-server'),
    'temporal-test-server',
  );
}

function binary(path: string, name: string): string {
  if (!existsSync(path))
    throw new Error(`${name} not found at ${path}: run scripts/setup (or npm run setup) first`);
  return path;
}

/** A real Temporal dev server (the `temporal` CLI) on free ports, torn down by `env.teardown()`. */
export function startDevServer(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      log: { format: 'json', level: 'error' },
    },
  });
}

/** The time-skipping test server, for workflows that sleep for days. */
export function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: temporalTestServerPath() } },
  });
}
