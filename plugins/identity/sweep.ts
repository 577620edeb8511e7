/**
 * Cleanup of expired self-service flows: a periodic sweep started in onStart and
 * stopped in onStop. A flow is kept for `graceSeconds` after it expired so a late
 * submit still gets Kratos' "flow expired" answer (410) rather than a 404. Deletes
 * are bounded (`batchSize` rows per statement, `maxBatches` statements per tenant
 * per run) and tenant-scoped: each statement runs on a ScopedDb and filters on nid.
 */
import { type Storage, sql } from 'tessera'

export interface SweepOptions {
  graceSeconds: number
  batchSize: number
  maxBatches: number
}

/** Delete flows that expired more than `graceSeconds` before `now`, in every tenant that has some. Returns how many. */
export async function sweepExpiredFlows(storage: Storage, o: SweepOptions, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - o.graceSeconds * 1000)
  const tenants = await storage.db.query<{ nid: string }>(sql`SELECT DISTINCT nid FROM selfservice_flows WHERE expires_at < ${cutoff}`)
  let total = 0
  for (const { nid } of tenants) {
    const db = storage.scoped(nid)
    for (let i = 0; i < o.maxBatches; i++) {
      const n = (
        await db.exec(sql`DELETE FROM selfservice_flows WHERE nid = ${db.nid} AND id IN (
          SELECT id FROM selfservice_flows WHERE nid = ${db.nid} AND expires_at < ${cutoff} LIMIT ${o.batchSize})`)
      ).rowCount
      total += n
      if (n < o.batchSize) break
    }
  }
  return total
}

/** Delete the flow-creation counters of windows already over (a new request would reset them anyway), bounded as above. */
export async function sweepFlowCreationCounters(storage: Storage, windowSeconds: number, now = Date.now(), batchSize = 500, maxBatches = 1000): Promise<number> {
  const current = now - (now % (windowSeconds * 1000))
  const tenants = await storage.db.query<{ nid: string }>(sql`SELECT DISTINCT nid FROM identity_flow_creation WHERE window_start < ${current}`)
  let total = 0
  for (const { nid } of tenants) {
    const db = storage.scoped(nid)
    for (let i = 0; i < maxBatches; i++) {
      const n = (
        await db.exec(sql`DELETE FROM identity_flow_creation WHERE nid = ${db.nid} AND key IN (
          SELECT key FROM identity_flow_creation WHERE nid = ${db.nid} AND window_start < ${current} LIMIT ${batchSize})`)
      ).rowCount
      total += n
      if (n < batchSize) break
    }
  }
  return total
}
