/**
 * `ctx.handle(listener, request)`: a plugin asks a listener in-process, as over HTTP (the listener's routes at
 * Ory's paths, the same validation and errors), without a socket: with the test kit, embedded under a prefix,
 * and in the standalone server.
 */
import { describe, expect, it } from 'bun:test'
import { Elysia } from 'elysia'
import * as v from 'valibot'
import { bootApps, bootKernel, call } from '../../test/helpers/app.ts'
import { tessera } from '../../elysia/index.ts'
import { serve } from '../../server/index.ts'
import { resolveConfig } from '../config/load.ts'
import { createLogger } from '../logger.ts'
import { definePlugin } from '../plugin.ts'
import { parse } from '../validation.ts'
import { Kernel } from './kernel.ts'
import { builtinDrivers } from '../../drivers/index.ts'

/** `/inner` answers what it saw; `/relay?to=…` asks the public listener for `to` in-process, with the caller's cookie and request id. */
const relay = definePlugin({
  id: 'relay',
  routes: {
    public: (app, ctx) =>
      app
        .get('/inner', ({ request, tessera }) => ({ cookie: request.headers.get('cookie'), requestId: tessera.requestId, base: tessera.publicBaseUrl }))
        .post('/inner', ({ body }) => parse(v.object({ n: v.number() }), body))
        .get('/relay', async ({ request, tessera }) => {
          const url = new URL(request.url)
          const to = url.searchParams.get('to') ?? '/inner'
          const method = url.searchParams.get('method') ?? 'GET'
          const headers = { cookie: request.headers.get('cookie') ?? '', 'x-request-id': tessera.requestId, 'content-type': 'application/json' }
          const r = await ctx.handle(url.searchParams.get('listener') === 'admin' ? 'admin' : 'public', new Request(`${url.origin}${to}`, { method, headers, ...(method === 'POST' ? { body: url.searchParams.get('body') ?? '' } : {}) }))
          return Response.json({ status: r.status, body: await r.json() })
        }),
    admin: (app) => app.get('/admin/inner', () => ({ admin: true })),
  },
})

describe('ctx.handle', () => {
  it('answers as the public listener would, with the caller’s cookie and request id, and Ory-shaped errors', async () => {
    const { kernel, public: pub } = await bootApps([relay()])
    try {
      const r = await call(pub, 'GET', '/relay', { headers: { cookie: 'a=1', 'x-request-id': 'outer-id-1' } })
      expect(r.json).toEqual({ status: 200, body: { cookie: 'a=1', requestId: 'outer-id-1', base: 'http://localhost:4433' } })

      const bad = await call(pub, 'GET', `/relay?to=/inner&method=POST&body=${encodeURIComponent('{"n":"x"}')}`)
      expect(bad.json.status).toBe(400)
      expect(bad.json.body.error.code).toBe(400)
      const good = await call(pub, 'GET', `/relay?to=/inner&method=POST&body=${encodeURIComponent('{"n":7}')}`)
      expect(good.json).toEqual({ status: 200, body: { n: 7 } })

      // each listener answers its own routes only
      expect((await call(pub, 'GET', '/relay?to=/admin/inner')).json.status).toBe(404)
      expect((await call(pub, 'GET', '/relay?to=/admin/inner&listener=admin')).json).toEqual({ status: 200, body: { admin: true } })
    } finally {
      await kernel.stop()
    }
  })

  it('uses Ory’s paths when embedded under a prefix', async () => {
    const auth = await tessera(resolveConfig({ dsn: 'sqlite::memory:', secrets: { system: ['a-handle-test-secret-0123456789'] }, log: { level: 'fatal' }, plugins: [relay()] }, { env: {} }), { public: { prefix: '/auth' }, migrate: true })
    const host = new Elysia().use(auth)
    try {
      const r = await host.handle(new Request('http://app.example/auth/relay?to=/inner', { headers: { cookie: 'b=2' } }))
      const body = (await r.json()) as { status: number; body: Record<string, unknown> }
      expect(body.status).toBe(200)
      expect(body.body).toMatchObject({ cookie: 'b=2', base: 'http://app.example/auth' })
      // the prefixed path is not a route of the listener itself
      const prefixed = await host.handle(new Request('http://app.example/auth/relay?to=/auth/inner'))
      expect(((await prefixed.json()) as { status: number }).status).toBe(404)
    } finally {
      await auth.decorator.tesseraKernel.stop()
    }
  })

  it('in the standalone server on port 0 without a base URL, the public base URL is where it listens', async () => {
    const config = resolveConfig({ dsn: 'sqlite::memory:', secrets: { system: ['a-handle-test-secret-0123456789'] }, serve: { public: { port: 0, host: '127.0.0.1' }, admin: { enabled: false } }, plugins: [relay()] }, { env: {} })
    const kernel = await Kernel.boot(config, { log: createLogger({ level: 'fatal' }), drivers: builtinDrivers })
    const server = await serve(kernel, { migrate: true })
    try {
      expect(server.publicUrl).not.toContain(':0')
      const r = await fetch(`${server.publicUrl}/relay`)
      expect(((await r.json()) as { body: { base: string } }).body.base).toBe(server.publicUrl)
    } finally {
      await server.stop()
    }
  })

  it('works on a kernel the test kit booted', async () => {
    const kernel = await bootKernel([relay()])
    try {
      const r = await kernel.handle('public', new Request('http://localhost/inner', { headers: { 'x-request-id': 'kit-1' } }))
      expect(((await r.json()) as { requestId: string }).requestId).toBe('kit-1')
    } finally {
      await kernel.stop()
    }
  })
})
