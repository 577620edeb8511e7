import { describe, expect, it } from 'bun:test'
import * as v from 'valibot'
import { definePlugin } from 'tessera'
import { bootApps, bootKernel, call } from '../../test/helpers/app.ts'

describe('per-plugin state', () => {
  const seen: string[] = []
  const counter = definePlugin({
    id: 'counter',
    options: v.object({ start: v.optional(v.number(), 0) }),
    state: (ctx) => ({ count: ctx.options.start, started: false }),
    setup: (ctx) => void seen.push(`setup ${ctx.state.count}`),
    onStart: (ctx) => {
      ctx.state.started = true
    },
    onStop: (ctx) => void seen.push(`stop ${ctx.state.count}`),
    routes: {
      public: (app, ctx) => app.post('/count', () => ({ count: ++ctx.state.count, started: ctx.state.started })),
    },
  })

  it('gives every hook and route the state made at boot, one per kernel', async () => {
    seen.length = 0
    const a = await bootApps([counter({ start: 10 })])
    const b = await bootApps([counter()])
    expect((await call(a.public, 'POST', '/count')).json).toEqual({ count: 11, started: true })
    expect((await call(a.public, 'POST', '/count')).json).toEqual({ count: 12, started: true })
    expect((await call(b.public, 'POST', '/count')).json).toEqual({ count: 1, started: true })
    await a.kernel.stop()
    await b.kernel.stop()
    expect(seen).toEqual(['setup 10', 'setup 0', 'stop 12', 'stop 1'])
  })

  it('makes the state before contributions, so contribution functions can use it', async () => {
    const keyed = definePlugin({
      id: 'keyed',
      state: () => ({ handlerId: 'named-by-state' }),
      authorizers: (ctx) => [{ id: ctx.state.handlerId, authorize: () => ({ allowed: true }) }],
    })
    const kernel = await bootKernel([keyed()])
    expect(kernel.registries.authorizers.get('named-by-state')).toBeDefined()
    await kernel.stop()
  })

  it('stops boot naming the plugin when making its state fails', async () => {
    const broken = definePlugin({
      id: 'broken',
      state: (): { n: number } => {
        throw new Error('no state today')
      },
    })
    await expect(bootKernel([broken()])).rejects.toThrow('plugin `broken` failed to set up: no state today')
  })

  it('is undefined for a plugin without state', async () => {
    let state: unknown = 'unset'
    const plain = definePlugin({ id: 'plain', setup: (ctx) => void (state = ctx.state) })
    const kernel = await bootKernel([plain()])
    expect(state).toBeUndefined()
    await kernel.stop()
  })
})
