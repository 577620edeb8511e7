/**
 * A periodic background job for plugins (sweeps, refreshes): start it in `onStart`, stop it in `onStop`.
 * A run never overlaps the previous one (a tick during a run is skipped), a failed run is logged (a repeated
 * failure not at every tick) and the next tick tries again, and `stop()` clears the timer and waits for a run
 * in progress, so nothing touches storage after the plugin has stopped. The timer does not keep the process
 * alive on its own.
 */
import type { Logger } from './logger.ts'
import type { Storage } from './plugin.ts'
import { type Sql, sql } from './storage/sql.ts'

export interface PeriodicJob {
  /** Stop ticking; resolves when a run in progress has finished. */
  stop(): Promise<void>
}

/**
 * Runs `run` every `intervalMs`; `what` names the job in the log. A failure that repeats run after run (the same
 * message: a database not migrated yet, or down) is logged once and then every five minutes with the count, not
 * at every tick; the first run that succeeds again says so.
 */
export function periodic(intervalMs: number, run: () => Promise<unknown>, log: Logger, what: string): PeriodicJob {
  let current: Promise<unknown> | null = null
  let failing: { message: string; runs: number; loggedAt: number } | null = null
  const failed = (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err)
    const now = Date.now()
    if (failing?.message === message) {
      failing.runs++
      if (now - failing.loggedAt < 300_000) return
      failing.loggedAt = now
    } else failing = { message, runs: (failing?.runs ?? 0) + 1, loggedAt: now }
    log.error(`${what} failed`, failing.runs > 1 ? { err, failed_runs: failing.runs } : { err })
  }
  const timer = setInterval(() => {
    if (current) return
    current = run()
      .then(
        () => {
          if (failing) log.info(`${what} recovered`, { failed_runs: failing.runs })
          failing = null
        },
        failed,
      )
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
