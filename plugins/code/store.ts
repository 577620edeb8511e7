/**
 * One-time codes and link tokens (Kratos' code storage): hashed at rest (HMAC-SHA-256 under the system secret,
 * bound to the tenant, flow and purpose, so a leaked table cannot be brute-forced offline), compared in constant
 * time, single use, expiring, and invalidated after `maxSubmissions` wrong tries. A try is counted atomically
 * before the comparison (one UPDATE … RETURNING): N parallel guesses get N distinct counts and at most
 * `maxSubmissions` of them are compared (Kratos #4251). A new code for a flow replaces the old one.
 */
import { type Keyring, type ScopedDb, TooManyRequestsError, constantTimeEqual, countInWindow, randomToken, sql } from 'tessera'

export type CodeKind = 'login' | 'registration' | 'recovery' | 'verification'

export interface CodeRow {
  id: string
  identity_id: string | null
  address: string | null
  via: string | null
}

export class CodeStore {
  constructor(
    private readonly keys: Keyring,
    private readonly o: { length: number; maxSubmissions: number; resend: { perAddress: number; windowSeconds: number } },
  ) {}

  /** A random code of `length` digits (rejection sampling: no modulo bias). */
  newCode(): string {
    const max = 10 ** this.o.length
    const limit = Math.floor(0x1_0000_0000 / max) * max
    const buf = new Uint32Array(1)
    for (;;) {
      crypto.getRandomValues(buf)
      if (buf[0]! < limit) return String(buf[0]! % max).padStart(this.o.length, '0')
    }
  }

  private mac(db: ScopedDb, kind: string, flowId: string, secret: string): Promise<string> {
    return this.keys.sign('code.one-time', JSON.stringify([db.nid, kind, flowId, secret]))
  }

  /**
   * Take one send for `address` in the current window (per address, whether it has an account or not): past
   * `resend.perAddress`, 429 with Retry-After. One atomic statement, shared by every instance.
   */
  async takeSend(db: ScopedDb, address: string): Promise<void> {
    const now = Date.now()
    const windowMs = this.o.resend.windowSeconds * 1000
    const windowStart = now - (now % windowMs)
    if ((await countInWindow(db, 'code_sends', 'address', address, windowStart)) > this.o.resend.perAddress) throw new TooManyRequestsError((windowStart + windowMs - now) / 1000, 'Too many codes were sent to this address, try again later.')
  }

  /** Store a new secret (a code, or a link token) for this flow, replacing any earlier one of the same kind. */
  async put(db: ScopedDb, kind: string, flowId: string, secret: string, opts: { identityId: string | null; address: string | null; via: string | null; lifespan: number }): Promise<Date> {
    const now = new Date()
    const expiresAt = new Date(now.getTime() + opts.lifespan * 1000)
    const hash = await this.mac(db, kind, flowId, secret)
    await db.transaction(async (tx) => {
      await tx.exec(sql`DELETE FROM code_codes WHERE nid = ${tx.nid} AND flow_id = ${flowId} AND kind = ${kind}`)
      await tx.exec(sql`INSERT INTO code_codes (nid, id, kind, flow_id, identity_id, address, via, code_hash, attempts, used_at, expires_at, created_at)
        VALUES (${tx.nid}, ${crypto.randomUUID()}, ${kind}, ${flowId}, ${opts.identityId}, ${opts.address}, ${opts.via}, ${hash}, ${0}, ${null}, ${expiresAt}, ${now})`)
    })
    return expiresAt
  }

  /** A new code for this flow: stored hashed, returned in clear for the message. */
  async issue(db: ScopedDb, kind: CodeKind, flowId: string, opts: { identityId: string | null; address: string | null; via: string | null; lifespan: number }): Promise<{ code: string; expiresAt: Date }> {
    const code = this.newCode()
    return { code, expiresAt: await this.put(db, kind, flowId, code, opts) }
  }

  /** A new link token for this flow (32 random bytes). */
  async issueToken(db: ScopedDb, kind: string, flowId: string, opts: { identityId: string | null; address: string | null; via: string | null; lifespan: number }): Promise<{ token: string; expiresAt: Date }> {
    const token = randomToken(32)
    return { token, expiresAt: await this.put(db, kind, flowId, token, opts) }
  }

  /**
   * Use the secret of this flow: the try is counted first (atomically, refused past `maxSubmissions`), then
   * compared in constant time, then consumed (only one concurrent use wins). The row on success, else null.
   */
  async use(db: ScopedDb, kind: string, flowId: string, secret: string): Promise<CodeRow | null> {
    const now = new Date()
    const row = await db.one<CodeRow & { code_hash: string }>(sql`UPDATE code_codes SET attempts = attempts + 1
      WHERE nid = ${db.nid} AND flow_id = ${flowId} AND kind = ${kind} AND used_at IS NULL AND expires_at > ${now} AND attempts < ${this.o.maxSubmissions}
      RETURNING id, identity_id, address, via, code_hash`)
    const expected = await this.mac(db, kind, flowId, secret.trim())
    if (!row || !constantTimeEqual(expected, row.code_hash)) return null
    const used = await db.exec(sql`UPDATE code_codes SET used_at = ${now} WHERE nid = ${db.nid} AND id = ${row.id} AND used_at IS NULL`)
    return used.rowCount === 1 ? { id: row.id, identity_id: row.identity_id, address: row.address, via: row.via } : null
  }
}
