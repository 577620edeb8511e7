import { describe, expect, it } from 'bun:test'
import { createLogger } from './logger.ts'
import { periodic } from './periodic.ts'

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('periodic jobs', () => {
  it('never overlaps a run, logs a failed run and runs again, and stop waits for the run in progress', async () => {
    const lines: string[] = []
    const log = createLogger({ sink: (line) => lines.push(String(line)), level: 'error' })
    let active = 0
    let overlapped = false
    let runs = 0
    let release!: () => void
    const job = periodic(
      2,
      async () => {
        runs++
        active++
        if (active > 1) overlapped = true
        try {
          if (runs === 1) throw new Error('first run fails')
          if (runs === 3) await new Promise<void>((r) => (release = r)) // the third run hangs until released
        } finally {
          active--
        }
      },
      log,
      'test sweep',
    )
    while (runs < 3) await tick(5)
    // many ticks pass while the third run hangs: none starts a fourth
    await tick(30)
    expect(runs).toBe(3)
    let stopped = false
    const stopping = job.stop().then(() => (stopped = true))
    await tick(10)
    expect(stopped).toBe(false) // stop waits for the hanging run
    release()
    await stopping
    await tick(20)
    expect(runs).toBe(3) // and no run starts after stop
    expect(overlapped).toBe(false)
    expect(lines.some((l) => l.includes('test sweep failed') && l.includes('first run fails'))).toBe(true)
  })

  it('logs a failure that repeats run after run once (a database not migrated yet), a new failure again, and the recovery', async () => {
    const lines: Record<string, unknown>[] = []
    const log = createLogger({ sink: (line) => lines.push(JSON.parse(String(line))), level: 'info' })
    let runs = 0
    const job = periodic(
      1,
      async () => {
        runs++
        if (runs <= 20) throw new Error('no such table: oauth2_logout_deliveries')
        if (runs <= 25) throw new Error('database is locked')
      },
      log,
      'test delivery',
    )
    while (runs < 30) await tick(5)
    await job.stop()
    const failed = lines.filter((l) => l.msg === 'test delivery failed')
    expect(failed.map((l) => (l.err as { message: string }).message)).toEqual(['no such table: oauth2_logout_deliveries', 'database is locked'])
    expect(failed[0]!.level).toBe('error')
    const recovered = lines.filter((l) => l.msg === 'test delivery recovered')
    expect(recovered).toHaveLength(1)
    expect(recovered[0]!.failed_runs).toBe(25)
  })
})
