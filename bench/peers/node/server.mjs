// node-oidc-provider for make bench-peers: one Node process, 127.0.0.1 only, production mode
// (the target starts it with NODE_ENV=production), PostgreSQL adapter (pg_adapter.mjs).
import { createServer } from 'node:http';

import { config, ensureSchema, provider } from './provider.mjs';

if (process.env.NODE_ENV !== 'production') {
  throw new Error('the benchmark peer runs with NODE_ENV=production');
}

await ensureSchema();
const server = createServer(provider.callback());
server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening on 127.0.0.1:${config.port}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
