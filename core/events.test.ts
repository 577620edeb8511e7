import { describe, expect, it } from 'bun:test'
import { EventBus } from './events.ts'

describe('event bus', () => {
  it('delivers an event to every handler in subscription order, with its meta', async () => {
    const bus = new EventBus()
    const seen: string[] = []
    bus.on('migration.applied', (e, meta) => void seen.push(`1:${e.plugin}/${e.migration}:${meta.tenant}`))
    bus.on('migration.applied', async (e) => {
      await Bun.sleep(1)
      seen.push(`2:${e.migration}`)
    })
    await bus.emit('migration.applied', { plugin: 'p', migration: '0001' }, { tenant: 't' })
    expect(seen).toEqual(['1:p/0001:t', '2:0001'])
  })

  it('stops delivering after unsubscribe', async () => {
    const bus = new EventBus()
    let n = 0
    const off = bus.on('server.started', () => void n++)
    await bus.emit('server.started', {})
    off()
    await bus.emit('server.started', {})
    expect(n).toBe(1)
  })

  it('refuses event names that are not noun.verb', () => {
    const bus = new EventBus()
    expect(() => bus.on('IdentityCreated' as never, () => {})).toThrow(/noun\.verb/)
  })
})
