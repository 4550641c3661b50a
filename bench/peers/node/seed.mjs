// Mints the single-use material of the benchmark ahead of the timed window, through the
// provider's own models and the PostgreSQL adapter (so the rows are exactly what the server
// would have written), and prints it as one JSON object on stdout.
//
//   node seed.mjs '{"names": ["code_exchange", ...], "count": 1000}'
//
// Starts from an empty table: what an earlier run left behind is deleted first.
import {
  config, database, ensureSchema, pool, provider,
} from './provider.mjs';

const { names, count } = JSON.parse(process.argv[2]);
const wanted = new Set(names);
const { account, code_client: codeClientId, cc_client: ccClientId, pkce } = config.seed;
const BATCH = 200;

async function mint(n, make) {
  const values = [];
  for (let start = 0; start < n; start += BATCH) {
    const size = Math.min(BATCH, n - start);
    values.push(...await Promise.all(Array.from({ length: size }, make)));
  }
  return values;
}

// One grant per authorization, as an authorization request with consent would leave behind.
async function newGrant(codeClient, scope) {
  const grant = new provider.Grant({ accountId: account.id, clientId: codeClient.clientId });
  grant.addOIDCScope(scope);
  return grant.save();
}

await ensureSchema();
await pool.query('TRUNCATE oidc_payloads');
await pool.query(
  `INSERT INTO bench_accounts (id, email, name) VALUES ($1, $2, $3)
   ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name`,
  [account.id, account.email, account.name],
);

// The models save through the adapter as the server's would; only the statements are
// batched: every row of the seed goes in one transaction on one connection, and the
// adapter's INSERTs are sent 1,000 rows at a time (any other statement flushes them first).
// Row by row, seeding 100,000 codes would take minutes.
const client = await pool.connect();
await client.query('BEGIN');
const pending = [];
async function flush() {
  if (!pending.length) return;
  const columns = Array.from({ length: 7 }, () => []);
  for (const values of pending.splice(0)) {
    values.forEach((value, i) => columns[i].push(i === 2 ? JSON.stringify(value) : value));
  }
  await client.query(
    `INSERT INTO oidc_payloads (model, id, payload, grant_id, uid, user_code, expires_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::text[],
                          $6::text[], $7::timestamptz[])`,
    columns,
  );
}
database.query = async (text, values) => {
  if (text.trimStart().startsWith('INSERT INTO oidc_payloads')) {
    pending.push(values);
    if (pending.length >= 1000) await flush();
    return { rows: [] };
  }
  await flush();
  return client.query(text, values);
};

const codeClient = await provider.Client.find(codeClientId);
const ccClient = await provider.Client.find(ccClientId);
const authTime = Math.floor(Date.now() / 1000);
const out = {};

if (wanted.has('code_exchange')) {
  out.codes = await mint(count, async () => new provider.AuthorizationCode({
    accountId: account.id,
    client: codeClient,
    grantId: await newGrant(codeClient, 'openid offline_access'),
    redirectUri: codeClient.redirectUris[0],
    scope: 'openid offline_access',
    codeChallenge: pkce.challenge,
    codeChallengeMethod: 'S256',
    authTime,
  }).save());
}

if (wanted.has('refresh')) {
  out.refresh_tokens = await mint(count, async () => new provider.RefreshToken({
    accountId: account.id,
    client: codeClient,
    grantId: await newGrant(codeClient, 'openid offline_access'),
    scope: 'openid offline_access',
    gty: 'authorization_code',
    rotations: 0,
    authTime,
  }).save());
}

// Machine tokens (client_credentials, opaque) for introspection and revocation.
const ccToken = () => new provider.ClientCredentials({ client: ccClient, scope: 'read' }).save();

if (wanted.has('introspect_active')) {
  out.active_token = await ccToken();
}
if (wanted.has('introspect_revoked')) {
  const value = await ccToken();
  const token = await provider.ClientCredentials.find(value);
  await token.destroy(); // what the revocation endpoint does
  out.revoked_token = value;
}
if (wanted.has('revoke')) {
  out.revoke_tokens = await mint(count, ccToken);
}

if (wanted.has('userinfo')) {
  out.userinfo_token = await new provider.AccessToken({
    accountId: account.id,
    client: codeClient,
    grantId: await newGrant(codeClient, 'openid email profile'),
    scope: 'openid email profile',
    gty: 'authorization_code',
  }).save();
}

await flush();
await client.query('COMMIT');
client.release();
// Vacuumed and analysed now, so autovacuum does not wake up inside the timed window.
await pool.query('VACUUM ANALYZE oidc_payloads, bench_accounts');
process.stdout.write(`${JSON.stringify(out)}\n`);
await pool.end();
