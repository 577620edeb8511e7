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
})
