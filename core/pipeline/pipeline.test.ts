/**
 * The pipeline's contract, in Oathkeeper's order: authenticators in order (first
 * responsible wins), one authorizer, every mutator, and the first error handler that matches.
 * (Oathkeeper's `when` and global configs are the proxy's: plugins/proxy/pipeline.test.ts.)
 */
import { describe, expect, it } from 'bun:test'
import * as v from 'valibot'
import { ConfigError } from '../errors.ts'
import { createRegistries } from '../registry.ts'
import { compilePipeline } from './run.ts'
import { AUTHENTICATED, type ErrorHandlerRef, NOT_RESPONSIBLE, type PipelineRequest, forbidden, unauthorized } from './types.ts'

function registries(log: string[] = []) {
  const r = createRegistries()
  r.authenticators.register({ id: 'anonymous', authenticate: (_q, s) => { log.push('anonymous'); s.subject = 'guest'; return AUTHENTICATED } }, 't')
  r.authenticators.register({ id: 'header', authenticate: (q, s) => {
    log.push('header')
    const u = q.headers.get('x-user')
    if (!u) return NOT_RESPONSIBLE
    if (u === 'mallory') return { kind: 'denied', error: unauthorized('banned') }
    s.subject = u
    return AUTHENTICATED
  } }, 't')
  r.authorizers.register({ id: 'allow', authorize: () => ({ allowed: true }) }, 't')
  r.authorizers.register({ id: 'deny', authorize: () => ({ allowed: false, error: forbidden('always_deny') }) }, 't')
  let validations = 0
  const counted = v.pipe(v.object({ name: v.string(), value: v.optional(v.string(), 'set') }), v.check(() => { validations++; return true }))
  r.mutators.register({ id: 'set_header', config: counted, mutate: (_q, s, c: { name: string; value: string }) => { s.header.set(c.name, c.value.replace('{subject}', s.subject)) } }, 't')
  r.errorHandlers.register({ id: 'json', handle: (e) => Response.json({ json: e.kind }, { status: e.status }) }, 't')
  r.errorHandlers.register({ id: 'redirect', config: v.object({ to: v.string() }), handle: (_e, _q, c: { to: string }) => new Response(null, { status: 302, headers: { location: c.to } }) }, 't')
  return { r, validations: () => validations }
}

/** A pipeline that authenticates by header and always denies, with these error handlers. */
const denying = (r: ReturnType<typeof registries>['r'], errors: ErrorHandlerRef[]) =>
  compilePipeline({ id: 'r', authenticators: [{ handler: 'header' }], authorizer: { handler: 'deny' }, mutators: [], errors }, r)

const request = (headers: Record<string, string> = {}): PipelineRequest => ({ method: 'GET', url: new URL('http://localhost/api'), headers: new Headers(headers), tenant: 'default' })

describe('pipeline', () => {
  it('mixes synchronous and asynchronous handlers in order; a sync throw and an async rejection both become 500s with their step', async () => {
    const log: string[] = []
    const { r } = registries(log)
    const later = <T>(x: T) => new Promise<T>((ok) => setTimeout(() => ok(x), 1))
    r.authenticators.register({ id: 'async_skip', authenticate: () => { log.push('async_skip'); return later(NOT_RESPONSIBLE) } }, 't')
    r.authenticators.register({ id: 'async_header', authenticate: async (q, s) => { log.push('async_header'); await later(null); s.subject = q.headers.get('x-user') ?? ''; return s.subject ? AUTHENTICATED : NOT_RESPONSIBLE } }, 't')
    r.authenticators.register({ id: 'throws', authenticate: () => { throw new Error('sync boom') } }, 't')
    r.authorizers.register({ id: 'async_allow', authorize: () => later({ allowed: true as const }) }, 't')
    r.mutators.register({ id: 'async_tag', mutate: async (_q, s) => { await later(null); s.header.set('x-async', s.subject) } }, 't')
    r.mutators.register({ id: 'rejects', mutate: () => Promise.reject(new Error('async boom')) }, 't')
    const mixed = compilePipeline(
      { id: 'mixed', authenticators: [{ handler: 'async_skip' }, { handler: 'header' }, { handler: 'async_header' }], authorizer: { handler: 'async_allow' }, mutators: [{ handler: 'async_tag' }, { handler: 'set_header', config: { name: 'x-sync', value: '{subject}' } }] },
      r,
    )
    const d = await mixed.run(request({ 'x-user': 'ann' }))
    expect(d.allowed && [d.session.subject, d.session.header.get('x-async'), d.session.header.get('x-sync')]).toEqual(['ann', 'ann', 'ann'])
    expect(log).toEqual(['async_skip', 'header'])
    log.length = 0
    // the header authenticator is not responsible without x-user: the async one after it is asked
    const none = await mixed.run(request())
    expect(none.allowed).toBe(false)
    expect(log).toEqual(['async_skip', 'header', 'async_header'])
    // a handler that throws synchronously, or rejects: 500, with the step in the reason
    const thrown = await compilePipeline({ id: 't', authenticators: [{ handler: 'throws' }], authorizer: { handler: 'allow' }, mutators: [] }, r).run(request())
    expect(!thrown.allowed && [thrown.response.status, thrown.error.reasonId]).toEqual([500, 'authenticator_error'])
    const rejected = await compilePipeline({ id: 'x', authenticators: [{ handler: 'anonymous' }], authorizer: { handler: 'allow' }, mutators: [{ handler: 'rejects' }] }, r).run(request())
    expect(!rejected.allowed && [rejected.response.status, rejected.error.reasonId]).toEqual([500, 'mutator_error'])
  })

  it('answers without a promise when every handler answered synchronously (the hot path), with one when any did not', async () => {
    const { r } = registries()
    r.authorizers.register({ id: 'async_allow', authorize: async () => ({ allowed: true as const }) }, 't')
    const spec = { id: 's', authenticators: [{ handler: 'anonymous' }], mutators: [{ handler: 'set_header', config: { name: 'x-s' } }] }
    const sync = compilePipeline({ ...spec, authorizer: { handler: 'allow' } }, r).run(request())
    expect(sync instanceof Promise).toBe(false)
    expect(!(sync instanceof Promise) && sync.allowed && sync.session.header.get('x-s')).toBe('set')
    const async = compilePipeline({ ...spec, authorizer: { handler: 'async_allow' } }, r).run(request())
    expect(async instanceof Promise).toBe(true)
    expect((await async).allowed).toBe(true)
  })

  it('skips authenticators that are not responsible; the first responsible one wins', async () => {
    const log: string[] = []
    const { r } = registries(log)
    const p = compilePipeline({ id: 'r', authenticators: [{ handler: 'header' }, { handler: 'anonymous' }], authorizer: { handler: 'allow' }, mutators: [] }, r)
    const withUser = await p.run(request({ 'x-user': 'ann' }))
    expect(withUser.session.subject).toBe('ann')
    expect(log).toEqual(['header'])
    log.length = 0
    const without = await p.run(request())
    expect(without.session.subject).toBe('guest')
    expect(log).toEqual(['header', 'anonymous'])
  })

  it('stops at an authenticator that denies, without trying the next', async () => {
    const log: string[] = []
    const { r } = registries(log)
    const p = compilePipeline({ id: 'r', authenticators: [{ handler: 'header' }, { handler: 'anonymous' }], authorizer: { handler: 'allow' }, mutators: [] }, r)
    const d = await p.run(request({ 'x-user': 'mallory' }))
    expect(d.allowed).toBe(false)
    expect(log).toEqual(['header'])
    if (!d.allowed) expect(d.response.status).toBe(401)
  })

  it('runs the authorizer, then every mutator in order', async () => {
    const { r } = registries()
    const p = compilePipeline({
      id: 'r',
      authenticators: [{ handler: 'header' }],
      authorizer: { handler: 'allow' },
      mutators: [{ handler: 'set_header', config: { name: 'X-A', value: '{subject}' } }, { handler: 'set_header', config: { name: 'X-B' } }],
    }, r)
    const d = await p.run(request({ 'x-user': 'ann' }))
    expect(d.allowed).toBe(true)
    expect([d.session.header.get('X-A'), d.session.header.get('X-B')]).toEqual(['ann', 'set'])
    const denied = compilePipeline({ id: 'r2', authenticators: [{ handler: 'header' }], authorizer: { handler: 'deny' }, mutators: [{ handler: 'set_header', config: { name: 'X-A' } }] }, r)
    const dd = await denied.run(request({ 'x-user': 'ann' }))
    expect(dd.allowed).toBe(false)
    expect(dd.session.header.get('X-A')).toBeNull()
    if (!dd.allowed) expect(dd.error.reasonId).toBe('always_deny')
  })

  it('renders a denial with the first error handler whose matches accepts it, else the default JSON', async () => {
    const { r } = registries()
    const p = denying(r, [
      { handler: 'redirect', config: { to: 'https://login.example.com' }, matches: (_e, q) => q.headers.get('accept') === 'text/html' },
      { handler: 'json', matches: (e) => e.kind === 'unauthorized' },
    ])
    const fail = async (headers: Record<string, string>) => {
      const d = await p.run(request(headers))
      if (d.allowed) throw new Error('expected a denial')
      return [d.response.status, await d.response.text()]
    }
    expect(await fail({ 'x-user': 'ann', accept: 'text/html' })).toEqual([302, ''])
    expect(await fail({ 'x-user': 'mallory' })).toEqual([401, '{"json":"unauthorized"}'])
    const [status, body] = await fail({ 'x-user': 'ann' })
    expect([status, JSON.parse(body as string).error.reason]).toEqual([403, 'always_deny'])
  })

  it('refuses an invalid handler config when compiling, naming the rule and path', () => {
    const { r } = registries()
    let err: unknown
    try {
      compilePipeline({ id: 'api', authenticators: [{ handler: 'header' }], authorizer: { handler: 'allow' }, mutators: [{ handler: 'set_header', config: { name: 42 } }] }, r)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).problems).toEqual(['rules.api.mutators[0].config.name: expected string, received 42'])
  })

  it('turns a throwing handler into a 500 decision, never an allow', async () => {
    const { r } = registries()
    r.authorizers.register({ id: 'broken', authorize: () => { throw new Error('db down') } }, 't')
    const p = compilePipeline({ id: 'r', authenticators: [{ handler: 'anonymous' }], authorizer: { handler: 'broken' }, mutators: [] }, r)
    const d = await p.run(request())
    expect(d.allowed).toBe(false)
    if (!d.allowed) expect(d.response.status).toBe(500)
  })


})
