export * from '../../scripts/local-servers.js';
