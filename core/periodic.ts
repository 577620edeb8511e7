/**
 * A periodic background job for plugins (sweeps, refreshes): start it in `onStart`, stop it in `onStop`.
 * A run never overlaps the previous one (a tick during a run is skipped), a failed run is logged and the
 * next tick tries again, and `stop()` clears the timer and waits for a run in progress, so nothing touches
 * storage after the plugin has stopped. The timer does not keep the process alive on its own.
 */
import type { Logger } from './logger.ts'
import type { Storage } from './plugin.ts'
import { type Sql, sql } from './storage/sql.ts'

export interface PeriodicJob {
  /** Stop ticking; resolves when a run in progress has finished. */
  stop(): Promise<void>
}

/** Runs `run` every `intervalMs`; `what` names the job in the error log. */
export function periodic(intervalMs: number, run: () => Promise<unknown>, log: Logger, what: string): PeriodicJob {
  let current: Promise<unknown> | null = null
  const timer = setInterval(() => {
    if (current) return
    current = run()
      .catch((err) => log.error(`${what} failed`, { err }))
      .finally(() => {
        current = null
      })
  }, intervalMs)
  timer.unref?.()
  return {
    async stop() {
      clearInterval(timer)
      await current
    },
  }
}

/**
 * A sweep's deletes, tenant by tenant: the rows of `table` that `where` picks, at most `batchSize` (chosen by
 * `keyColumn`) per statement and `maxBatches` statements per tenant, each on the tenant's ScopedDb. Returns how many.
 */
export async function sweepTenants(storage: Storage, table: string, keyColumn: string, where: Sql, batchSize: number, maxBatches: number): Promise<number> {
  const [t, k] = [sql.id(table), sql.id(keyColumn)]
  const tenants = await storage.db.query<{ nid: string }>(sql`SELECT DISTINCT nid FROM ${t} WHERE ${where}`)
  let total = 0
  for (const { nid } of tenants) {
    const db = storage.scoped(nid)
    for (let i = 0; i < maxBatches; i++) {
      const n = (await db.exec(sql`DELETE FROM ${t} WHERE nid = ${db.nid} AND ${k} IN (SELECT ${k} FROM ${t} WHERE nid = ${db.nid} AND ${where} LIMIT ${batchSize})`)).rowCount
      total += n
      if (n < batchSize) break
    }
  }
  return total
}
