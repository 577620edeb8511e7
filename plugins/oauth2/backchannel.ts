/**
 * Back-channel logout (OpenID Connect Back-Channel Logout 1.0): a signed logout token per client, POSTed to its
 * `backchannel_logout_uri`. Deliveries are rows of `oauth2_logout_deliveries`, sent by a periodic job with
 * exponential backoff, so that a receiver that is down, or a restart of Tessera, delays a logout but does not lose
 * it. A row is claimed (its next attempt moved past the request's timeout) before it is sent, so two processes on
 * one database do not both send it.
 */
import { type ScopedDb, sql } from 'tessera'
import type { Client } from './clients.ts'
import { signJwt } from './keys.ts'
import type { OAuth2 } from './oauth2.ts'
import { ID_TOKEN_SET } from './options.ts'

export const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
/** How long a delivery (and its logout token) lives before it is given up. */
const DELIVERY_LIFETIME_SECONDS = 24 * 3600
const MAX_BACKOFF_SECONDS = 3600

/** §2.4: iss, aud, iat, exp, jti, events, and sub and/or sid; never a nonce. Signed with the ID-token keys. */
export async function logoutToken(o: OAuth2, tenant: string, issuer: string, client: Client, subject: string, sid: string | null, expiresAt: Date): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const claims: Record<string, unknown> = {
    iss: issuer,
    aud: [client.client_id],
    iat: now,
    exp: Math.floor(expiresAt.getTime() / 1000),
    jti: crypto.randomUUID(),
    events: { [BACKCHANNEL_EVENT]: {} },
    sub: subject,
  }
  if (sid) claims.sid = sid
  // §2.4: typ logout+jwt, so that a logout token is never mistaken for an ID token
  return signJwt(o.keys, tenant, ID_TOKEN_SET, claims, { typ: 'logout+jwt' })
}

/** Queue one delivery per client with a back-channel URI; the job (or `deliverDue`) sends them. */
export async function queueBackchannel(o: OAuth2, db: ScopedDb, issuer: string, clients: Client[], subject: string, sid: string | null): Promise<number> {
  let n = 0
  const now = new Date()
  const expires = new Date(now.getTime() + DELIVERY_LIFETIME_SECONDS * 1000)
  for (const c of clients) {
    if (!c.backchannel_logout_uri) continue
    const token = await logoutToken(o, db.nid, issuer, c, subject, sid, expires)
    await db.exec(sql`INSERT INTO oauth2_logout_deliveries (nid, id, client_id, uri, logout_token, attempts, next_attempt_at, expires_at)
      VALUES (${db.nid}, ${crypto.randomUUID()}, ${c.client_id}, ${c.backchannel_logout_uri}, ${token}, ${0}, ${now}, ${expires})`)
    n++
  }
  return n
}

interface DeliveryRow {
  id: string
  client_id: string
  uri: string
  logout_token: string
  attempts: number
  next_attempt_at: Date
  expires_at: Date
}

/** Send every due delivery of one tenant once; failures are rescheduled with backoff, or given up. */
export async function deliverDue(o: OAuth2, db: ScopedDb): Promise<void> {
  const b = o.options.logout.backchannel
  const now = new Date()
  const due = await db.query<DeliveryRow>(sql`SELECT id, client_id, uri, logout_token, attempts, next_attempt_at, expires_at FROM oauth2_logout_deliveries
    WHERE nid = ${db.nid} AND next_attempt_at <= ${now} ORDER BY next_attempt_at LIMIT 100`)
  await Promise.all(
    due.map(async (d) => {
      if (d.expires_at.getTime() <= now.getTime()) {
        await db.exec(sql`DELETE FROM oauth2_logout_deliveries WHERE nid = ${db.nid} AND id = ${d.id}`)
        return
      }
      // claim: whoever moves next_attempt_at sends
      const lease = new Date(now.getTime() + (b.timeoutSeconds + 1) * 1000)
      const claimed = await db.exec(sql`UPDATE oauth2_logout_deliveries SET next_attempt_at = ${lease} WHERE nid = ${db.nid} AND id = ${d.id} AND next_attempt_at = ${d.next_attempt_at}`)
      if (claimed.rowCount === 0) return
      let ok = false
      try {
        const res = await fetch(d.uri, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'cache-control': 'no-store' },
          body: new URLSearchParams({ logout_token: d.logout_token }),
          redirect: 'manual',
          signal: AbortSignal.timeout(b.timeoutSeconds * 1000),
        })
        await res.body?.cancel()
        ok = res.status === 200 || res.status === 204
      } catch {
        ok = false
      }
      if (ok) {
        await db.exec(sql`DELETE FROM oauth2_logout_deliveries WHERE nid = ${db.nid} AND id = ${d.id}`)
        return
      }
      const attempts = d.attempts + 1
      if (attempts >= b.maxAttempts) {
        o.ctx.log.warn('oauth2 back-channel logout given up', { 'tessera.client_id': d.client_id, 'tessera.attempts': attempts, reason_id: 'backchannel_logout_failed' })
        await db.exec(sql`DELETE FROM oauth2_logout_deliveries WHERE nid = ${db.nid} AND id = ${d.id}`)
        return
      }
      const wait = Math.min(MAX_BACKOFF_SECONDS, b.backoffSeconds * 2 ** (attempts - 1))
      await db.exec(sql`UPDATE oauth2_logout_deliveries SET attempts = ${attempts}, next_attempt_at = ${new Date(Date.now() + wait * 1000)} WHERE nid = ${db.nid} AND id = ${d.id}`)
    }),
  )
}
