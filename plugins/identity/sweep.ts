/**
 * Cleanup of expired self-service flows and of the self-service errors a browser was
 * sent to the error page with: a periodic sweep started in onStart and stopped in
 * onStop. A flow is kept for `graceSeconds` after it expired so a late submit still
 * gets Kratos' "flow expired" answer (410) rather than a 404. Deletes
 * are bounded (`batchSize` rows per statement, `maxBatches` statements per tenant
 * per run) and tenant-scoped: each statement runs on a ScopedDb and filters on nid.
 */
import { type Storage, sql, sweepTenants } from 'tessera'

export interface SweepOptions {
  graceSeconds: number
  batchSize: number
  maxBatches: number
}

/** Delete flows that expired more than `graceSeconds` before `now`, in every tenant that has some. Returns how many. */
export async function sweepExpiredFlows(storage: Storage, o: SweepOptions, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - o.graceSeconds * 1000)
  return sweepTenants(storage, 'selfservice_flows', 'id', sql`expires_at < ${cutoff}`, o.batchSize, o.maxBatches)
}

/** Delete the self-service errors (flow-errors.ts) made more than `maxAgeSeconds` before `now`: a browser reads one as it is sent to the error page. */
export async function sweepFlowErrors(storage: Storage, maxAgeSeconds: number, o: Pick<SweepOptions, 'batchSize' | 'maxBatches'>, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - maxAgeSeconds * 1000)
  return sweepTenants(storage, 'selfservice_errors', 'id', sql`created_at < ${cutoff}`, o.batchSize, o.maxBatches)
}

/** Delete the flow-creation counters of windows already over (a new request would reset them anyway), bounded as above. */
export async function sweepFlowCreationCounters(storage: Storage, windowSeconds: number, now = Date.now(), batchSize = 500, maxBatches = 1000): Promise<number> {
  const current = now - (now % (windowSeconds * 1000))
  return sweepTenants(storage, 'identity_flow_creation', 'key', sql`window_start < ${current}`, batchSize, maxBatches)
}
