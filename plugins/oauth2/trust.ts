/**
 * Trusted JWT-bearer issuers (RFC 7523 §3, Hydra's `/admin/trust/grants/jwt-bearer/issuers`): which issuer may
 * assert which subject (or any subject), for which scopes, with which public key, until when. The
 * `urn:ietf:params:oauth:grant-type:jwt-bearer` grant (jwt-bearer.ts) looks the assertion's key up here.
 *
 * Hydra groups the keys of an issuer in a JWK set named after it (`public_key.set` = issuer); Tessera keeps the
 * public key in the trust row itself (`oauth2_trusted_issuers.public_key`) and answers with the same shape.
 */
import { importJWK } from 'jose'
import * as v from 'valibot'
import { BadRequestError, ConflictError, MalformedBodyError, NotFoundError, type RouteApp, type ScopedDb, UniqueViolationError, ValidationError, parse, sql } from 'tessera'
import { publicHalf } from './keys.ts'
import type { OAuth2 } from './oauth2.ts'

/** Asymmetric signature algorithms an issuer's key may have: never `none`, never HMAC (checklist: alg confusion). */
export const TRUST_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,255}$/

const TrustJwk = v.looseObject({
  kty: v.picklist(['RSA', 'EC', 'OKP'], 'jwk.kty must be RSA, EC or OKP (a public key; symmetric keys are refused)'),
  kid: v.pipe(v.string("Field 'jwk' must contain JWK with kid header."), v.minLength(1, "Field 'jwk' must contain JWK with kid header."), v.maxLength(255)),
  alg: v.picklist(TRUST_ALGS, `jwk.alg must be one of ${TRUST_ALGS.join(', ')}`),
  use: v.optional(v.literal('sig', 'jwk.use must be sig')),
})

export const TrustBody = v.object({
  issuer: v.pipe(v.string("Field 'issuer' is required."), v.minLength(1, "Field 'issuer' is required."), v.maxLength(1024)),
  subject: v.optional(v.pipe(v.string(), v.maxLength(1024)), ''),
  allow_any_subject: v.optional(v.boolean(), false),
  scope: v.pipe(v.array(v.pipe(v.string(), v.regex(SCOPE_TOKEN, 'each scope is printable ASCII without spaces, " and \\'))), v.maxLength(256)),
  jwk: TrustJwk,
  expires_at: v.pipe(v.string("Field 'expires_at' is required."), v.isoTimestamp('expires_at must be an RFC 3339 date-time')),
})

export const TrustListQuery = v.object({
  page_size: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/, 'expected an integer between 1 and 500'), v.transform(Number), v.minValue(1, 'expected an integer between 1 and 500'), v.maxValue(500, 'expected an integer between 1 and 500'))),
  page_token: v.optional(v.pipe(v.string(), v.maxLength(4096))),
  issuer: v.optional(v.pipe(v.string(), v.maxLength(1024))),
})

export interface TrustedIssuer {
  id: string
  issuer: string
  subject: string
  allowAnySubject: boolean
  scope: string[]
  publicKey: Record<string, unknown>
  createdAt: Date
  expiresAt: Date
}

interface Row {
  id: string
  issuer: string
  subject: string
  allow_any_subject: boolean | number
  scope: string[]
  public_key: Record<string, unknown>
  created_at: Date
  expires_at: Date
}
const toTrust = (r: Row): TrustedIssuer => ({
  id: r.id,
  issuer: r.issuer,
  subject: r.subject,
  allowAnySubject: Boolean(r.allow_any_subject),
  scope: r.scope,
  publicKey: r.public_key,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
})

/** Hydra's `trustedOAuth2JwtGrantIssuer` JSON. */
export const trustJson = (t: TrustedIssuer) => ({
  id: t.id,
  issuer: t.issuer,
  subject: t.subject,
  allow_any_subject: t.allowAnySubject,
  scope: t.scope,
  public_key: { set: t.issuer, kid: String(t.publicKey.kid) },
  created_at: t.createdAt.toISOString(),
  expires_at: t.expiresAt.toISOString(),
})

const COLUMNS = sql`id, issuer, subject, allow_any_subject, scope, public_key, created_at, expires_at`

export class TrustRepo {
  constructor(private readonly db: ScopedDb) {}

  async insert(t: TrustedIssuer): Promise<void> {
    const db = this.db
    await db.transaction(async (tx) => {
      // one relationship per (issuer, subject, kid), as Hydra's unique index
      const dup = await tx.one(sql`SELECT id FROM oauth2_trusted_issuers WHERE nid = ${tx.nid} AND issuer = ${t.issuer} AND subject = ${t.subject} AND public_key->>'kid' = ${String(t.publicKey.kid)}`)
      if (dup) throw new ConflictError(undefined, { reason: 'A trust relationship for this issuer, subject and key id exists already.' })
      await tx.exec(sql`INSERT INTO oauth2_trusted_issuers (nid, id, issuer, subject, allow_any_subject, scope, public_key, created_at, expires_at)
        VALUES (${tx.nid}, ${t.id}, ${t.issuer}, ${t.subject}, ${t.allowAnySubject}, ${sql.json(t.scope)}, ${sql.json(t.publicKey)}, ${t.createdAt}, ${t.expiresAt})`)
    })
  }

  async get(id: string): Promise<TrustedIssuer | null> {
    const r = await this.db.one<Row>(sql`SELECT ${COLUMNS} FROM oauth2_trusted_issuers WHERE nid = ${this.db.nid} AND id = ${id}`)
    return r ? toTrust(r) : null
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.exec(sql`DELETE FROM oauth2_trusted_issuers WHERE nid = ${this.db.nid} AND id = ${id}`)).rowCount > 0
  }

  async list(issuer: string | undefined, size: number, after?: string): Promise<TrustedIssuer[]> {
    const rows = await this.db.query<Row>(sql`SELECT ${COLUMNS} FROM oauth2_trusted_issuers WHERE nid = ${this.db.nid}
      ${issuer !== undefined ? sql`AND issuer = ${issuer}` : sql.empty}
      ${after !== undefined ? sql`AND id > ${after}` : sql.empty}
      ORDER BY id LIMIT ${size}`)
    return rows.map(toTrust)
  }

  /**
   * The unexpired relationships that may vouch for an assertion by `issuer` about `subject`: the subject's own
   * and the issuer's allow-any-subject ones, narrowed to the key id when the assertion names one.
   */
  async candidates(issuer: string, subject: string, kid: string | undefined, now = new Date()): Promise<TrustedIssuer[]> {
    const rows = await this.db.query<Row>(sql`SELECT ${COLUMNS} FROM oauth2_trusted_issuers WHERE nid = ${this.db.nid} AND issuer = ${issuer}
      AND (subject = ${subject} OR allow_any_subject = ${true}) AND expires_at > ${now}
      ${kid !== undefined ? sql`AND public_key->>'kid' = ${kid}` : sql.empty}
      ORDER BY id LIMIT 100`)
    return rows.map(toTrust)
  }
}

async function objectBody(request: Request): Promise<Record<string, unknown>> {
  const text = await request.text()
  if (text.length > 256 * 1024) throw new MalformedBodyError('The request body is too large.')
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new MalformedBodyError('The request body could not be parsed: check that it is well-formed JSON')
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError([{ path: '', message: 'expected a JSON object' }])
  return body as Record<string, unknown>
}

const ID = /^[A-Za-z0-9._:@~-]{1,255}$/
const notFound = () => new NotFoundError('Unable to locate the resource', { reason: 'The requested trust relationship does not exist.' })

/** A trust request checked as Hydra's validator does, plus: the key is a public key that imports for its alg. */
export async function checkTrust(input: unknown): Promise<Omit<TrustedIssuer, 'id' | 'createdAt'>> {
  const body = parse(TrustBody, input)
  if (body.subject === '' && !body.allow_any_subject) throw new ValidationError([{ path: 'subject', message: "One of 'subject' or 'allow_any_subject' field must be set." }])
  if (body.subject !== '' && body.allow_any_subject) throw new ValidationError([{ path: 'subject', message: "Both 'subject' and 'allow_any_subject' fields cannot be set at the same time." }])
  const expiresAt = new Date(body.expires_at)
  if (expiresAt.getTime() <= Date.now()) throw new ValidationError([{ path: 'expires_at', message: 'expires_at must be in the future' }])
  const jwk = body.jwk as Record<string, unknown>
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw new ValidationError([{ path: 'jwk', message: 'jwk must be a public key: private members are refused' }])
  if (jwk.kty === 'RSA' && (typeof jwk.n !== 'string' || jwk.n.length < 342)) throw new ValidationError([{ path: 'jwk.n', message: 'RSA keys must be at least 2048 bits' }])
  try {
    const key = await importJWK(jwk, String(jwk.alg))
    if (key instanceof Uint8Array || (key as CryptoKey).type !== 'public') throw new Error('not a public key')
  } catch {
    throw new ValidationError([{ path: 'jwk', message: `not a valid ${String(jwk.alg)} public key` }])
  }
  return { issuer: body.issuer, subject: body.subject, allowAnySubject: body.allow_any_subject, scope: body.scope, publicKey: publicHalf(jwk), expiresAt }
}

/** Hydra's admin trust API. */
export function trustRoutes(app: RouteApp, o: OAuth2) {
  const PAGE = 'oauth2.trust.page'
  const BASE = '/admin/trust/grants/jwt-bearer/issuers'
  return app
    .post(BASE, async ({ request, tessera }) => {
      const t: TrustedIssuer = { ...(await checkTrust(await objectBody(request))), id: crypto.randomUUID(), createdAt: new Date() }
      try {
        await new TrustRepo(tessera.db).insert(t)
      } catch (e) {
        if (e instanceof UniqueViolationError) throw new ConflictError(undefined, { reason: 'A trust relationship for this issuer, subject and key id exists already.' })
        throw e
      }
      return new Response(JSON.stringify(trustJson(t)), { status: 201, headers: { 'content-type': 'application/json; charset=utf-8', location: `${BASE}/${t.id}` } })
    }, { parse: 'none' })
    .get(BASE, async ({ request, tessera }) => {
      const q = parse(TrustListQuery, Object.fromEntries(new URL(request.url).searchParams))
      const size = q.page_size ?? 250
      const bind = `${tessera.tenant}\u0000${q.issuer ?? ''}`
      let after: string | undefined
      if (q.page_token) {
        const opened = await o.ctx.secrets.system.open(PAGE, q.page_token, bind)
        if (opened === null) throw new BadRequestError(undefined, { reason: 'The page token is invalid, do not alter it.' })
        after = opened
      }
      const rows = await new TrustRepo(tessera.db).list(q.issuer, size + 1, after)
      const page = rows.slice(0, size)
      const extra = q.issuer !== undefined ? `&issuer=${encodeURIComponent(q.issuer)}` : ''
      const links = [`<${BASE}?page_size=${size}${extra}>; rel="first"`]
      if (rows.length > size) links.push(`<${BASE}?page_size=${size}&page_token=${await o.ctx.secrets.system.seal(PAGE, page[page.length - 1]!.id, bind)}${extra}>; rel="next"`)
      return new Response(JSON.stringify(page.map(trustJson)), { headers: { 'content-type': 'application/json; charset=utf-8', link: links.join(',') } })
    })
    .get(`${BASE}/:id`, async ({ params, tessera }) => {
      if (!ID.test(params.id)) throw notFound()
      const t = await new TrustRepo(tessera.db).get(params.id)
      if (!t) throw notFound()
      return new Response(JSON.stringify(trustJson(t)), { headers: { 'content-type': 'application/json; charset=utf-8' } })
    })
    .delete(`${BASE}/:id`, async ({ params, tessera }) => {
      if (!ID.test(params.id) || !(await new TrustRepo(tessera.db).delete(params.id))) throw notFound()
      return new Response(null, { status: 204 })
    })
}
