import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../config/config.js';
import { createFileModelRegistry } from '../registry/model-registry.js';
import { buildApp } from './app.js';

/** Starts the gateway and stops it cleanly on SIGINT/SIGTERM, letting in-flight requests finish. */
export async function main(): Promise<void> {
  const config = loadConfig();
  const logger = pino({ level: config.logLevel, base: { service: 'api' } });
  const app = await buildApp({
    registry: createFileModelRegistry(config.dataDir),
    logger,
    bodyLimitBytes: config.apiBodyLimitBytes,
    version: config.codeVersion,
  });
  const address = await app.listen({ host: config.apiHost, port: config.apiPort });
  logger.info({ address, dataDir: config.dataDir, docs: `${address}/docs` }, 'api listening');

  const stop = async (signal: string) => {
    logger.info({ signal }, 'api stopping');
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
