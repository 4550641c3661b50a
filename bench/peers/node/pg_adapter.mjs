// A PostgreSQL adapter for node-oidc-provider on the `pg` package, in the shape of the
// provider's example adapters: one key-value table holding every model's payload as jsonb,
// with the secondary keys the provider looks up by (grant id, session uid, user code).
// Every call is one statement on a pooled connection, as a production adapter would do.

const TABLE = 'oidc_payloads';

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS ${TABLE} (
  model text NOT NULL,
  id text NOT NULL,
  payload jsonb NOT NULL,
  grant_id text,
  uid text,
  user_code text,
  expires_at timestamptz,
  consumed_at timestamptz,
  PRIMARY KEY (model, id)
);
CREATE INDEX IF NOT EXISTS ${TABLE}_grant_id ON ${TABLE} (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ${TABLE}_uid ON ${TABLE} (uid) WHERE uid IS NOT NULL;
CREATE INDEX IF NOT EXISTS ${TABLE}_user_code ON ${TABLE} (user_code) WHERE user_code IS NOT NULL;
`;

// Models whose rows belong to a grant: revoking the grant deletes them all.
const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

function row(result) {
  const found = result.rows[0];
  if (!found) return undefined;
  const { payload, consumed_at: consumedAt } = found;
  return consumedAt ? { ...payload, consumed: Math.floor(consumedAt.getTime() / 1000) } : payload;
}

// `db` is anything with pg's `query(text, values)`: a pool, or one client in a transaction.
export function adapterFactory(db) {
  return class PostgresAdapter {
    constructor(model) {
      this.model = model;
    }

    async upsert(id, payload, expiresIn) {
      const expiresAt = typeof expiresIn === 'number' ? new Date(Date.now() + expiresIn * 1000) : null;
      await db.query(
        `INSERT INTO ${TABLE} (model, id, payload, grant_id, uid, user_code, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload,
           grant_id = EXCLUDED.grant_id, uid = EXCLUDED.uid, user_code = EXCLUDED.user_code,
           expires_at = EXCLUDED.expires_at`,
        [
          this.model, id, payload,
          GRANTABLE.has(this.model) ? payload.grantId ?? null : null,
          payload.uid ?? null, payload.userCode ?? null, expiresAt,
        ],
      );
    }

    async find(id) {
      return row(await db.query(
        `SELECT payload, consumed_at FROM ${TABLE}
         WHERE model = $1 AND id = $2 AND (expires_at IS NULL OR expires_at > now())`,
        [this.model, id],
      ));
    }

    async findByUid(uid) {
      return row(await db.query(
        `SELECT payload, consumed_at FROM ${TABLE}
         WHERE model = $1 AND uid = $2 AND (expires_at IS NULL OR expires_at > now())`,
        [this.model, uid],
      ));
    }

    async findByUserCode(userCode) {
      return row(await db.query(
        `SELECT payload, consumed_at FROM ${TABLE}
         WHERE model = $1 AND user_code = $2 AND (expires_at IS NULL OR expires_at > now())`,
        [this.model, userCode],
      ));
    }

    async consume(id) {
      await db.query(
        `UPDATE ${TABLE} SET consumed_at = now() WHERE model = $1 AND id = $2`,
        [this.model, id],
      );
    }

    async destroy(id) {
      await db.query(`DELETE FROM ${TABLE} WHERE model = $1 AND id = $2`, [this.model, id]);
    }

    async revokeByGrantId(grantId) {
      await db.query(`DELETE FROM ${TABLE} WHERE grant_id = $1`, [grantId]);
    }
  };
}
