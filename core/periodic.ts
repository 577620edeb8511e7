/**
 * A periodic background job for plugins (sweeps, refreshes): start it in `onStart`, stop it in `onStop`.
 * A run never overlaps the previous one (a tick during a run is skipped), a failed run is logged and the
 * next tick tries again, and `stop()` clears the timer and waits for a run in progress, so nothing touches
 * storage after the plugin has stopped. The timer does not keep the process alive on its own.
 */
import type { Logger } from './logger.ts'

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
