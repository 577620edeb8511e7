/**
 * JSON Web Keys: the built-in KeyStore (the database, private halves sealed with the system secret so that
 * old secrets still open them after SECRETS_SYSTEM rotates), JWK helpers, JWT signing through any KeyStore,
 * and rotation — the one module every part of the plugin (and a scheduled job) uses to rotate.
 *
 * A key's life is three instants: `sign_from` (it may sign), `sign_until` (it stops signing; null while
 * current) and `verify_until` (it leaves /.well-known/jwks.json; null while signing). A rotation publishes the
 * new key at once and lets it sign only after the overlap window, so relying parties that cache the JWKS have
 * it before the first token it signs; the old key keeps verifying until everything it signed has expired.
 */
import { type KeyRotation, type KeyStore, type PublicJwk, type Secrets, type SigningKey, type Storage, sql } from 'tessera'

export type Alg = 'RS256' | 'ES256'

/** JWK members that carry private or symmetric key material: never published. */
export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const

const ALGS: Record<Alg, { gen: RsaHashedKeyGenParams | EcKeyGenParams; imp: RsaHashedImportParams | EcKeyImportParams; sign: AlgorithmIdentifier | EcdsaParams }> = {
  RS256: {
    gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    imp: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    sign: 'RSASSA-PKCS1-v1_5',
  },
  ES256: {
    gen: { name: 'ECDSA', namedCurve: 'P-256' },
    imp: { name: 'ECDSA', namedCurve: 'P-256' },
    sign: { name: 'ECDSA', hash: 'SHA-256' },
  },
}

export function isAlg(x: unknown): x is Alg {
  return x === 'RS256' || x === 'ES256'
}

/** The public half of a JWK: every private member dropped. */
export function publicHalf(jwk: Record<string, unknown>): PublicJwk {
  const out: Record<string, unknown> = {}
  for (const [k, value] of Object.entries(jwk)) if (!(PRIVATE_MEMBERS as readonly string[]).includes(k) && k !== 'key_ops' && k !== 'ext') out[k] = value
  return out as PublicJwk
}

export function hasPrivate(jwk: Record<string, unknown>): boolean {
  return PRIVATE_MEMBERS.some((k) => jwk[k] !== undefined)
}

/** A fresh key pair: its private JWK (with kid, alg, use) and public half. */
export async function generateJwk(alg: Alg, kid: string, use: string): Promise<{ privateJwk: Record<string, unknown>; publicJwk: PublicJwk }> {
  const pair = (await crypto.subtle.generateKey(ALGS[alg].gen, true, ['sign', 'verify'])) as CryptoKeyPair
  const exported = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as Record<string, unknown>
  delete exported.key_ops
  delete exported.ext
  const privateJwk = { ...exported, kid, alg, use }
  return { privateJwk, publicJwk: publicHalf(privateJwk) }
}

/** Import a private JWK for signing; throws when it is not a valid key of `alg`. */
export function importSigningKey(jwk: Record<string, unknown>, alg: Alg): Promise<CryptoKey> {
  const { kid: _k, alg: _a, use: _u, ...material } = jwk
  return crypto.subtle.importKey('jwk', material as JsonWebKey, ALGS[alg].imp, false, ['sign'])
}

/** Import a public JWK for verifying; throws when it is not a valid key of `alg`. */
export function importVerifyKey(jwk: Record<string, unknown>, alg: Alg): Promise<CryptoKey> {
  const { kid: _k, alg: _a, use: _u, ...material } = publicHalf(jwk)
  return crypto.subtle.importKey('jwk', material as JsonWebKey, ALGS[alg].imp, false, ['verify'])
}

const enc = new TextEncoder()
const b64u = (bytes: Uint8Array | string) => Buffer.from(typeof bytes === 'string' ? enc.encode(bytes) : bytes).toString('base64url')

/** A compact JWS (RFC 7515) of `claims`, signed by the key that signs now in `set`. */
export async function signJwt(store: KeyStore, tenant: string, set: string, claims: Record<string, unknown>, opts: { typ?: string; alg?: Alg } = {}): Promise<string> {
  const key = await store.signingKey(tenant, set, opts.alg)
  const header = b64u(JSON.stringify({ alg: key.alg, kid: key.kid, typ: opts.typ ?? 'JWT' }))
  const input = `${header}.${b64u(JSON.stringify(claims))}`
  return `${input}.${b64u(await key.sign(enc.encode(input)))}`
}

interface KeyRow {
  set_id: string
  kid: string
  alg: string
  use: string
  public_jwk: PublicJwk
  private_sealed: string | null
  created_at: Date
  sign_from: Date
  sign_until: Date | null
  verify_until: Date | null
}

const COLS = sql`set_id, kid, alg, use, public_jwk, private_sealed, created_at, sign_from, sign_until, verify_until`
const SIGNING_CACHE_MS = 10_000

/** A key as the admin API stores and lists it. */
export interface StoredKey {
  kid: string
  alg: string
  use: string
  publicJwk: PublicJwk
  /** The private JWK, when the key has one (opened with the system secret). */
  privateJwk?: Record<string, unknown>
  signFrom: Date
  signUntil: Date | null
  verifyUntil: Date | null
}

/**
 * The built-in KeyStore. The current signing key of a set is cached per process for a few seconds (less than
 * any sensible overlap window, so a key rotated in at another process is published long before it signs here).
 */
export class DatabaseKeyStore implements KeyStore {
  readonly #signing = new Map<string, { key: SigningKey; signUntil: number; at: number }>()
  readonly #generating = new Map<string, Promise<SigningKey>>()

  constructor(
    private readonly storage: Storage,
    private readonly secrets: Secrets,
    private readonly defaultAlg: Alg = 'RS256',
  ) {}

  #aad(tenant: string, set: string, kid: string) {
    return `${tenant}\u0000${set}\u0000${kid}`
  }

  async #open(tenant: string, row: KeyRow): Promise<Record<string, unknown> | null> {
    if (!row.private_sealed) return null
    const opened = await this.secrets.system.open('oauth2.jwk', row.private_sealed, this.#aad(tenant, row.set_id, row.kid))
    if (opened === null) throw new Error(`the private half of key ${row.kid} of set ${row.set_id} cannot be opened with the configured system secrets`)
    return JSON.parse(opened)
  }

  /** Store a key (a private JWK is sealed). A key with that kid in the set already is a conflict. */
  async put(tenant: string, set: string, jwk: Record<string, unknown>, signFrom = new Date(), replace = false): Promise<PublicJwk> {
    const db = this.storage.scoped(tenant)
    const kid = String(jwk.kid)
    const pub = publicHalf(jwk)
    const sealed = hasPrivate(jwk) ? await this.secrets.system.seal('oauth2.jwk', JSON.stringify(jwk), this.#aad(tenant, set, kid)) : null
    const now = new Date()
    await db.transaction(async (tx) => {
      if (replace) await tx.exec(sql`DELETE FROM oauth2_jwks WHERE nid = ${tx.nid} AND set_id = ${set} AND kid = ${kid}`)
      await tx.exec(sql`INSERT INTO oauth2_jwks (nid, set_id, kid, alg, use, public_jwk, private_sealed, created_at, sign_from, sign_until, verify_until)
        VALUES (${tx.nid}, ${set}, ${kid}, ${String(jwk.alg)}, ${String(jwk.use ?? 'sig')}, ${sql.json(pub)}, ${sealed}, ${now}, ${signFrom}, ${null}, ${null})`)
    })
    this.#forget(tenant, set)
    return pub
  }

  async generate(tenant: string, set: string, opts: { alg: Alg; kid?: string; use?: 'sig' | 'enc'; signFrom?: Date }): Promise<PublicJwk> {
    const { privateJwk } = await generateJwk(opts.alg, opts.kid ?? crypto.randomUUID(), opts.use ?? 'sig')
    return this.put(tenant, set, privateJwk, opts.signFrom)
  }

  /** Every key of a set (admin API), private halves opened when `withPrivate`. */
  async list(tenant: string, set: string, withPrivate = false): Promise<StoredKey[]> {
    const db = this.storage.scoped(tenant)
    const rows = await db.query<KeyRow>(sql`SELECT ${COLS} FROM oauth2_jwks WHERE nid = ${db.nid} AND set_id = ${set} ORDER BY sign_from DESC, kid`)
    const out: StoredKey[] = []
    for (const r of rows) {
      const privateJwk = withPrivate ? await this.#open(tenant, r) : null
      out.push({ kid: r.kid, alg: r.alg, use: r.use, publicJwk: r.public_jwk, ...(privateJwk ? { privateJwk } : {}), signFrom: r.sign_from, signUntil: r.sign_until, verifyUntil: r.verify_until })
    }
    return out
  }

  /** The sets a tenant has (CLI). */
  async sets(tenant: string): Promise<string[]> {
    const db = this.storage.scoped(tenant)
    const rows = await db.query<{ set_id: string }>(sql`SELECT DISTINCT set_id FROM oauth2_jwks WHERE nid = ${db.nid} ORDER BY set_id`)
    return rows.map((r) => r.set_id)
  }

  async verificationKeys(tenant: string, set: string): Promise<PublicJwk[]> {
    const db = this.storage.scoped(tenant)
    const now = new Date()
    const rows = await db.query<KeyRow>(sql`SELECT ${COLS} FROM oauth2_jwks WHERE nid = ${db.nid} AND set_id = ${set} AND use = 'sig' AND (verify_until IS NULL OR verify_until > ${now}) ORDER BY sign_from DESC, kid`)
    return rows.map((r) => r.public_jwk)
  }

  #forget(tenant: string, set: string) {
    this.#signing.delete(`${tenant}\u0000${set}`)
  }

  async signingKey(tenant: string, set: string, alg?: Alg): Promise<SigningKey> {
    const cacheKey = `${tenant}\u0000${set}`
    const cached = this.#signing.get(cacheKey)
    const nowMs = Date.now()
    if (cached && nowMs - cached.at < SIGNING_CACHE_MS && nowMs < cached.signUntil) return cached.key
    const db = this.storage.scoped(tenant)
    const now = new Date(nowMs)
    const row = await db.one<KeyRow>(sql`SELECT ${COLS} FROM oauth2_jwks WHERE nid = ${db.nid} AND set_id = ${set} AND use = 'sig' AND private_sealed IS NOT NULL
      AND sign_from <= ${now} AND (sign_until IS NULL OR sign_until > ${now}) ORDER BY sign_from DESC, kid LIMIT 1`)
    if (!row) {
      // none signs yet: make one (once per process at a time)
      let p = this.#generating.get(cacheKey)
      if (!p) {
        p = (async () => {
          await this.generate(tenant, set, { alg: alg ?? this.defaultAlg })
          return this.signingKey(tenant, set, alg)
        })().finally(() => this.#generating.delete(cacheKey))
        this.#generating.set(cacheKey, p)
      }
      return p
    }
    const jwk = (await this.#open(tenant, row))!
    if (!isAlg(row.alg)) throw new Error(`key ${row.kid} of set ${set} has algorithm ${row.alg}, which Tessera does not sign with`)
    const cryptoKey = await importSigningKey(jwk, row.alg)
    const params = ALGS[row.alg].sign
    const key: SigningKey = { kid: row.kid, alg: row.alg, sign: async (data) => new Uint8Array(await crypto.subtle.sign(params, cryptoKey, data as Uint8Array<ArrayBuffer>)) }
    this.#signing.set(cacheKey, { key, at: nowMs, signUntil: row.sign_until ? row.sign_until.getTime() : Number.POSITIVE_INFINITY })
    return key
  }

  async rotate(tenant: string, set: string, rotation: KeyRotation): Promise<{ added: PublicJwk; retired: string[] }> {
    const db = this.storage.scoped(tenant)
    const now = Date.now()
    const signFrom = new Date(now + rotation.overlapSeconds * 1000)
    // another process may keep signing with the retired key for up to one signing-cache period after signFrom
    // (it cached the key before the rotation): its tokens must verify for their whole life too
    const verifyUntil = new Date(signFrom.getTime() + SIGNING_CACHE_MS + rotation.retainSeconds * 1000)
    const current = await db.query<{ kid: string; alg: string }>(sql`SELECT kid, alg FROM oauth2_jwks WHERE nid = ${db.nid} AND set_id = ${set} AND use = 'sig' AND sign_until IS NULL ORDER BY sign_from DESC`)
    const alg = rotation.alg ?? (isAlg(current[0]?.alg) ? (current[0]!.alg as Alg) : this.defaultAlg)
    const { privateJwk } = await generateJwk(alg, crypto.randomUUID(), 'sig')
    const sealed = await this.secrets.system.seal('oauth2.jwk', JSON.stringify(privateJwk), this.#aad(tenant, set, String(privateJwk.kid)))
    await db.transaction(async (tx) => {
      await tx.exec(sql`UPDATE oauth2_jwks SET sign_until = ${signFrom}, verify_until = ${verifyUntil} WHERE nid = ${tx.nid} AND set_id = ${set} AND use = 'sig' AND sign_until IS NULL`)
      await tx.exec(sql`INSERT INTO oauth2_jwks (nid, set_id, kid, alg, use, public_jwk, private_sealed, created_at, sign_from, sign_until, verify_until)
        VALUES (${tx.nid}, ${set}, ${String(privateJwk.kid)}, ${alg}, 'sig', ${sql.json(publicHalf(privateJwk))}, ${sealed}, ${new Date(now)}, ${signFrom}, ${null}, ${null})`)
      // keys whose every token has expired leave the table
      await tx.exec(sql`DELETE FROM oauth2_jwks WHERE nid = ${tx.nid} AND set_id = ${set} AND verify_until IS NOT NULL AND verify_until <= ${new Date(now)}`)
    })
    this.#forget(tenant, set)
    return { added: publicHalf(privateJwk), retired: current.map((c) => c.kid) }
  }

  async delete(tenant: string, set: string, kid?: string): Promise<number> {
    const db = this.storage.scoped(tenant)
    const r = kid === undefined
      ? await db.exec(sql`DELETE FROM oauth2_jwks WHERE nid = ${db.nid} AND set_id = ${set}`)
      : await db.exec(sql`DELETE FROM oauth2_jwks WHERE nid = ${db.nid} AND set_id = ${set} AND kid = ${kid}`)
    this.#forget(tenant, set)
    return r.rowCount
  }
}
