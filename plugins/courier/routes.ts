/**
 * The admin API, Kratos' paths and JSON shape (`message` in kratos.openapi.json):
 *   GET /admin/courier/messages        filter by `status` and `recipient`; newest first, paginated with Ory's
 *                                      `page_size` / `page_token` and a Link header (rel first, next)
 *   GET /admin/courier/messages/{id}   one message with its dispatches (attempts)
 * Bodies and subjects are redacted of the codes and links the message carries, unless `admin.revealSecrets`.
 */
import * as v from 'valibot'
import { BadRequestError, NotFoundError, type RouteApp, type ScopedDb, parse, sql } from 'tessera'
import { type Courier, type DispatchRow, type MessageRow, STATUSES } from './courier.ts'

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } })

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const d = v.description
const Clean = v.check((s: string) => !/[\u0000-\u001f\u007f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s), 'must not contain control characters')
export const ListQuery = v.object({
  status: v.optional(v.pipe(v.picklist(STATUSES, `Message status is not valid: expected one of ${STATUSES.join(', ')}`), d('Only messages with this status.'))),
  recipient: v.optional(v.pipe(v.string(), v.maxLength(320), Clean, d('Only messages to this recipient (exact).'))),
  page_size: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/, 'expected an integer between 1 and 1000'), v.transform(Number), v.minValue(1, 'expected an integer between 1 and 1000'), v.maxValue(1000, 'expected an integer between 1 and 1000'), d('Items per page (default 250, at most 1000).'))),
  page_token: v.optional(v.pipe(v.string(), v.maxLength(4096), d("The next page's token, from the Link header."))),
})

/** Values of the template data that must not be shown: codes and links (`*_code`, `*_url`). */
function secretsOf(data: Record<string, unknown>): string[] {
  return Object.entries(data)
    .filter(([k, val]) => /(^|_)(code|url|link|token)$/i.test(k) && typeof val === 'string' && val.length > 0)
    .map(([, val]) => val as string)
    .sort((a, b) => b.length - a.length)
}

export const REDACTED = '<redacted>'
export function redact(text: string, secrets: string[]): string {
  let out = text
  for (const s of secrets) out = out.replaceAll(s, REDACTED)
  return out
}

function messageJson(m: MessageRow, reveal: boolean, dispatches?: DispatchRow[]) {
  const secrets = reveal ? [] : secretsOf(m.template_data)
  return {
    id: m.id,
    status: m.status,
    type: m.type,
    recipient: m.recipient,
    body: redact(m.body, secrets),
    subject: redact(m.subject, secrets),
    template_type: m.template_type,
    channel: m.channel,
    send_count: m.send_count,
    ...(dispatches
      ? {
          dispatches: dispatches.map((x) => ({
            id: x.id,
            message_id: x.message_id,
            status: x.status,
            ...(x.error ? { error: x.error } : {}),
            created_at: x.created_at.toISOString(),
            updated_at: x.updated_at.toISOString(),
          })),
        }
      : {}),
    created_at: m.created_at.toISOString(),
    updated_at: m.updated_at.toISOString(),
  }
}

const PAGE = 'courier.page'

export function adminRoutes(app: RouteApp, c: Courier) {
  const ctx = c.ctx
  const reveal = ctx.options.admin.revealSecrets

  async function list(db: ScopedDb, f: { status?: string; recipient?: string; after?: string; limit: number }) {
    const where = [sql`nid = ${db.nid}`]
    if (f.status) where.push(sql`status = ${f.status}`)
    if (f.recipient !== undefined) where.push(sql`recipient = ${f.recipient}`)
    if (f.after) where.push(sql`id < ${f.after}`)
    return db.query<MessageRow>(sql`SELECT * FROM courier_messages WHERE ${sql.join(where, ' AND ')} ORDER BY id DESC LIMIT ${f.limit}`)
  }

  return app
    .get('/admin/courier/messages', async ({ tessera, request }) => {
      const params = new URL(request.url).searchParams
      for (const k of ['status', 'recipient', 'page_size', 'page_token']) {
        if (params.getAll(k).length > 1) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: `${k} is given more than once.` })
      }
      const q = parse(ListQuery, Object.fromEntries([...params].filter(([k]) => ['status', 'recipient', 'page_size', 'page_token'].includes(k))))
      const size = q.page_size ?? 250
      let after: string | undefined
      if (q.page_token) {
        const opened = await ctx.secrets.system.open(PAGE, q.page_token, `${tessera.tenant}\u0000messages`)
        if (!opened || !UUID.test(opened)) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'The page token is invalid, do not alter it.' })
        after = opened
      }
      const rows = await list(tessera.db, { status: q.status, recipient: q.recipient, after, limit: size + 1 })
      const page = rows.slice(0, size)
      const filter = `${q.status ? `&status=${encodeURIComponent(q.status)}` : ''}${q.recipient !== undefined ? `&recipient=${encodeURIComponent(q.recipient)}` : ''}`
      const path = '/admin/courier/messages'
      const links = [`<${path}?page_size=${size}${filter}>; rel="first"`]
      const last = page[page.length - 1]
      if (rows.length > size && last) links.push(`<${path}?page_size=${size}&page_token=${await ctx.secrets.system.seal(PAGE, last.id, `${tessera.tenant}\u0000messages`)}${filter}>; rel="next"`)
      return json(
        page.map((m) => messageJson(m, reveal)),
        200,
        { link: links.join(',') },
      )
    })
    .get('/admin/courier/messages/:id', async ({ tessera, params }) => {
      if (!UUID.test(params.id)) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'The message id must be a UUID.' })
      const db = tessera.db
      const m = await db.one<MessageRow>(sql`SELECT * FROM courier_messages WHERE nid = ${db.nid} AND id = ${params.id.toLowerCase()}`)
      if (!m) throw new NotFoundError('Unable to locate the resource')
      const dispatches = await db.query<DispatchRow>(sql`SELECT * FROM courier_message_dispatches WHERE nid = ${db.nid} AND message_id = ${m.id} ORDER BY id DESC`)
      return json(messageJson(m, reveal, dispatches))
    })
}
