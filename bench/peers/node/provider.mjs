// The node-oidc-provider configuration shared by the server (server.mjs) and the seeder
// (seed.mjs). Everything run-specific (issuer, clients and their secrets, the signing key,
// cookie keys, the database) comes from the JSON file named by BENCH_NODE_CONFIG, which
// bench/targets/node_oidc.py writes; the packages come from the git-ignored install folder
// named by BENCH_NODE_INSTALL (bench/peers/setup.sh fills it with `npm ci`).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { adapterFactory, SCHEMA } from './pg_adapter.mjs';

const install = process.env.BENCH_NODE_INSTALL;
if (!install) throw new Error('BENCH_NODE_INSTALL is not set (run bench/peers/setup.sh)');
const requireFromInstall = createRequire(join(install, 'package.json'));
const { default: Provider } = await import(
  pathToFileURL(requireFromInstall.resolve('oidc-provider')).href
);
const pg = requireFromInstall('pg');

export const config = JSON.parse(readFileSync(process.env.BENCH_NODE_CONFIG, 'utf8'));

export const pool = new pg.Pool({
  connectionString: config.database_url,
  max: config.pool_size ?? 10,
});

// What the adapter sends its statements to: the pool, except while seed.mjs mints in one
// transaction (a commit per row would make seeding 100,000 codes take minutes).
export const database = { query: (...args) => pool.query(...args) };

export const ACCOUNTS_SCHEMA = `
CREATE TABLE IF NOT EXISTS bench_accounts (
  id text PRIMARY KEY,
  email text NOT NULL,
  name text NOT NULL
);
`;

export async function ensureSchema() {
  await pool.query(SCHEMA);
  await pool.query(ACCOUNTS_SCHEMA);
}

// Accounts live in PostgreSQL, as in any real deployment: userinfo and the ID token read
// the row, the same work authsite and django-oauth-toolkit do for their user.
async function findAccount(ctx, sub) {
  const { rows: [account] } = await pool.query(
    'SELECT id, email, name FROM bench_accounts WHERE id = $1',
    [sub],
  );
  if (!account) return undefined;
  return {
    accountId: account.id,
    async claims() {
      return {
        sub: account.id, email: account.email, email_verified: true, name: account.name,
      };
    },
  };
}

export const provider = new Provider(config.issuer, {
  adapter: adapterFactory(database),
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: config.cookie_keys },
  findAccount,
  scopes: ['openid', 'offline_access', 'email', 'profile', 'read'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
  },
  // Refresh tokens are rotated on every use, as authsite and django-oauth-toolkit do.
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 600,
    ClientCredentials: 3600,
    Grant: 14 * 24 * 3600,
    IdToken: 3600,
    Interaction: 3600,
    RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
  },
});
