/**
 * Kratos' user-facing self-service errors (selfservice/errorx): an error a browser cannot be shown in a flow — a
 * browser flow that could not be created, say for a return_to that is not allowed — is stored, and the browser is
 * sent to the UI's error page (`<ui>/error?id=<id>`), which reads it from `GET /self-service/errors?id=<id>` (Ory
 * Elements' Error component, the ui plugin's error page). JSON clients (an SPA, `Accept: application/json`) get the
 * error itself, as before. Rate-limit refusals (429) are not stored, so a flood past the flow-creation limit writes
 * nothing; stored errors are swept with the expired flows (sweep.ts).
 */
import { NotFoundError, type RouteApp, type ScopedDb, TesseraError, renderError, sql } from 'tessera'
import type { FlowEngine } from './engine.ts'
import { json, redirect, wantsJson } from './routes-public.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The body of `GET /self-service/errors` (Kratos' `flowError`). */
export interface FlowErrorJson {
  id: string
  error: Record<string, unknown>
  created_at: string
  updated_at: string
}

/** The error containers (Kratos' selfservice_errors): written once, read by id, marked seen when read. */
export class FlowErrors {
  constructor(private readonly db: ScopedDb) {}

  /** Store an error as Tessera renders it (Ory's generic error shape); its id. */
  async create(error: Record<string, unknown>): Promise<string> {
    const id = crypto.randomUUID()
    const now = new Date()
    await this.db.exec(sql`INSERT INTO selfservice_errors (nid, id, errors, was_seen, seen_at, created_at, updated_at) VALUES (${this.db.nid}, ${id}, ${sql.json(error)}, ${false}, ${null}, ${now}, ${now})`)
    return id
  }

  async read(id: string): Promise<FlowErrorJson | undefined> {
    if (!UUID.test(id)) return undefined
    const db = this.db
    const row = await db.one<{ id: string; errors: Record<string, unknown>; created_at: Date | string; updated_at: Date | string }>(sql`SELECT id, errors, created_at, updated_at FROM selfservice_errors WHERE nid = ${db.nid} AND id = ${id.toLowerCase()}`)
    if (!row) return undefined
    await db.exec(sql`UPDATE selfservice_errors SET was_seen = ${true}, seen_at = ${new Date()} WHERE nid = ${db.nid} AND id = ${row.id}`)
    return { id: row.id, error: row.errors, created_at: new Date(row.created_at).toISOString(), updated_at: new Date(row.updated_at).toISOString() }
  }
}

/**
 * Kratos' errorx.Manager.Forward for a browser flow's creation: a browser (not asking for JSON) is sent to the UI's
 * error page with the stored error; anything else, and a 429 or a server error, is thrown on as before.
 */
export async function forwardToErrorUi(e: unknown, request: Request, engine: FlowEngine, db: ScopedDb, publicBaseUrl: string, requestId?: string): Promise<Response> {
  if (!(e instanceof TesseraError) || e.status >= 500 || e.status === 429 || wantsJson(request)) throw e
  const rendered = (await renderError(e, requestId).json()) as { error: Record<string, unknown> }
  const id = await new FlowErrors(db).create(rendered.error)
  return redirect(`${engine.uiBase(publicBaseUrl)}/error?id=${id}`)
}

/**
 * A new flow for a route that starts one (`engine.create`), except that a browser flow that cannot be made sends
 * the browser to the UI's error page (forwardToErrorUi) instead: the one place the create routes do this.
 */
export async function createOrForward(
  engine: FlowEngine,
  rc: { publicBaseUrl: string; requestId?: string },
  ...args: Parameters<FlowEngine['create']>
): Promise<Awaited<ReturnType<FlowEngine['create']>> | Response> {
  const [, type, request, db] = args
  try {
    return await engine.create(...args)
  } catch (e) {
    if (type !== 'browser') throw e
    return forwardToErrorUi(e, request, engine, db, rc.publicBaseUrl, rc.requestId)
  }
}

/** `GET /self-service/errors?id=` (Kratos' getFlowError; `error` is accepted for `id`, and `stub:500` is its stub). */
export function flowErrorRoutes(app: RouteApp) {
  return app.get('/self-service/errors', async ({ tessera, query }) => {
    const q = query as Record<string, unknown>
    const id = String((typeof q.error === 'string' && q.error) || (typeof q.id === 'string' && q.id) || '')
    if (id === 'stub:500') {
      const now = new Date().toISOString()
      const error = { code: 500, status: 'Internal Server Error', reason: 'This is a stub error.', message: 'An internal server error occurred, please contact the system administrator' }
      return json({ id: crypto.randomUUID(), error, created_at: now, updated_at: now })
    }
    const found = await new FlowErrors(tessera.db).read(id)
    if (!found) throw new NotFoundError('Unable to locate the resource')
    return json(found)
  })
}
