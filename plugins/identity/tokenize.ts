/**
 * whoami?tokenize_as=<template>: the session as a JWT (jose, ES256) signed with a
 * managed per-tenant key. The private key is generated on first use and stored
 * sealed (ctx.secrets.system, the tenant as aad); public keys are served at
 * GET /.well-known/tessera/session-jwks.json. Claims: sub, sid, iat, exp, jti,
 * plus what the template's TypeScript `claims` function returns.
 */
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose'
import { BadRequestError, type ScopedDb, TesseraError, sql } from 'tessera'
import type { IdentityCore } from './core.ts'

const PURPOSE = 'identity.session-signing-key'

interface TenantKey {
  kid: string
  privateKey: CryptoKey | Uint8Array
  publicJwk: JWK
}

export class SessionTokenizer {
  readonly #keys = new Map<string, Promise<TenantKey>>()
  constructor(private readonly core: IdentityCore) {}

  #key(db: ScopedDb): Promise<TenantKey> {
    let p = this.#keys.get(db.nid)
    if (!p) {
      p = this.#loadOrCreate(db)
      this.#keys.set(db.nid, p)
      p.catch(() => this.#keys.delete(db.nid))
    }
    return p
  }

  async #loadOrCreate(db: ScopedDb): Promise<TenantKey> {
    const read = () => db.one<{ kid: string; private_sealed: string; public_jwk: JWK }>(sql`SELECT kid, private_sealed, public_jwk FROM identity_signing_keys WHERE nid = ${db.nid} ORDER BY created_at DESC LIMIT 1`)
    const create = async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
      const kid = crypto.randomUUID()
      const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }
      const sealed = await this.core.ctx.secrets.system.seal(PURPOSE, JSON.stringify(await exportJWK(privateKey)), db.nid)
      await db.exec(sql`INSERT INTO identity_signing_keys (nid, kid, private_sealed, public_jwk, created_at) VALUES (${db.nid}, ${kid}, ${sealed}, ${sql.json(publicJwk)}, ${new Date()}) ON CONFLICT (nid, kid) DO NOTHING`)
      return (await read())!
    }
    let row = (await read()) ?? (await create())
    let opened = await this.core.ctx.secrets.system.open(PURPOSE, row.private_sealed, db.nid)
    if (!opened && this.core.ctx.config.secrets.ephemeral) {
      // development mode: the ephemeral system secret of an earlier run sealed this key; rotate to a new one
      this.core.ctx.log.warn('the session signing key was sealed by an earlier run\'s ephemeral secret: rotating to a new key', { kid: row.kid, tenant: db.nid })
      row = await create()
      opened = await this.core.ctx.secrets.system.open(PURPOSE, row.private_sealed, db.nid)
    }
    if (!opened) {
      throw new TesseraError('ERR_SIGNING_KEY_SEALED', 500, 'An internal server error occurred, please contact the system administrator', {
        cause: new Error(`the session signing key ${row.kid} cannot be opened with the configured system secrets: keep the secret that sealed it in secrets.system (the first signs, all open)`),
      })
    }
    return { kid: row.kid, privateKey: await importJWK(JSON.parse(opened), 'ES256'), publicJwk: row.public_jwk }
  }

  async jwks(db: ScopedDb): Promise<{ keys: JWK[] }> {
    return { keys: [(await this.#key(db)).publicJwk] }
  }

  async tokenize(db: ScopedDb, template: string, session: Record<string, unknown> & { id: string; expires_at: string; identity?: unknown }): Promise<string> {
    // an own property only: `__proto__`, `constructor` or `toString` name no template
    const templates = this.core.ctx.options.session.tokenizers
    const t = Object.hasOwn(templates, template) ? templates[template] : undefined
    if (!t) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: `Unknown tokenize_as template "${template}".` })
    const key = await this.#key(db)
    const now = Math.floor(Date.now() / 1000)
    const exp = Math.min(now + t.ttl, Math.floor(new Date(session.expires_at).getTime() / 1000))
    const custom = t.claims ? await t.claims(session) : {}
    const identity = session.identity as { id: string }
    return new SignJWT({ ...custom, sid: session.id })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
      .setSubject(identity.id)
      .setIssuer(this.core.publicBaseUrl)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .setJti(crypto.randomUUID())
      .sign(key.privateKey)
  }
}
