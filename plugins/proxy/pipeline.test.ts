/**
 * Oathkeeper's conventions over the core pipeline: rule config merged over global config, and the error
 * handler chosen by `when` (error kind, Accept, the peer's CIDR).
 */
import { describe, expect, it } from 'bun:test'
import { AUTHENTICATED, compilePipeline, forbidden, type PipelineRequest } from 'tessera'
import * as v from 'valibot'
import { createRegistries } from '../../core/registry.ts'
import { type ProxyPipelineSpec, mergeConfig, pipelineSpec } from './pipeline.ts'

function registries() {
  const r = createRegistries()
  r.authenticators.register({ id: 'header', authenticate: (q, s) => { s.subject = q.headers.get('x-user') ?? ''; return AUTHENTICATED } }, 't')
  r.authorizers.register({ id: 'allow', authorize: () => ({ allowed: true }) }, 't')
  r.authorizers.register({ id: 'deny', authorize: () => ({ allowed: false, error: forbidden('always_deny') }) }, 't')
  let validations = 0
  const counted = v.pipe(v.object({ name: v.string(), value: v.optional(v.string(), 'set') }), v.check(() => { validations++; return true }))
  r.mutators.register({ id: 'set_header', config: counted, mutate: (_q, s, c: { name: string; value: string }) => { s.header.set(c.name, c.value) } }, 't')
  r.errorHandlers.register({ id: 'json', handle: (e) => Response.json({ json: e.kind }, { status: e.status }) }, 't')
  r.errorHandlers.register({ id: 'redirect', config: v.object({ to: v.string() }), handle: (_e, _q, c: { to: string }) => new Response(null, { status: 302, headers: { location: c.to } }) }, 't')
  return { r, validations: () => validations }
}

/** A rule that authenticates by header and always denies, with these error handlers. */
const denying = (r: ReturnType<typeof registries>['r'], errors: ProxyPipelineSpec['errors']) =>
  compilePipeline(pipelineSpec({ id: 'r', authenticators: [{ handler: 'header' }], authorizer: { handler: 'deny' }, mutators: [], errors }), r)

const request = (headers: Record<string, string> = {}): PipelineRequest => ({ method: 'GET', url: new URL('http://localhost/api'), headers: new Headers(headers), tenant: 'default' })

describe('proxy pipeline: global configs and `when`', () => {
  it('chooses the error handler by `when`, falling through to the next', async () => {
    const { r } = registries()
    const p = denying(r, [
      { handler: 'redirect', config: { to: 'https://login.example.com' }, when: [{ error: ['unauthorized', 'forbidden'], request: { header: { accept: ['text/html'] } } }] },
      { handler: 'json' },
    ])
    const browser = await p.run(request({ 'x-user': 'ann', accept: 'text/html,application/xhtml+xml' }))
    const api = await p.run(request({ 'x-user': 'ann', accept: 'application/json' }))
    if (browser.allowed || api.allowed) throw new Error('expected denials')
    expect(browser.response.status).toBe(302)
    expect(browser.response.headers.get('location')).toBe('https://login.example.com')
    expect(api.response.status).toBe(403)
    expect(await api.response.json()).toEqual({ json: 'forbidden' })
  })

  it('merges rule config over global config and validates it once, at compile time', async () => {
    const { r, validations } = registries()
    const p = compilePipeline(
      pipelineSpec(
        { id: 'r', authenticators: [{ handler: 'header' }], authorizer: { handler: 'allow' }, mutators: [{ handler: 'set_header', config: { value: 'rule' } }] },
        { mutators: { set_header: { name: 'X-Global', value: 'global' } } },
      ),
      r,
    )
    expect(validations()).toBe(1)
    for (let i = 0; i < 5; i++) await p.run(request({ 'x-user': 'ann' }))
    expect(validations()).toBe(1)
    const d = await p.run(request({ 'x-user': 'ann' }))
    expect(d.session.header.get('X-Global')).toBe('rule')
  })

  it('merges objects deeply and lets arrays and scalars replace', () => {
    expect(mergeConfig({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: 2 })).toEqual({ a: { b: 1, c: [3] }, d: 1, e: 2 })
  })

  it('chooses an error handler by the peer address with when.request.cidr, IPv4-mapped IPv6 included', async () => {
    const { r } = registries()
    const p = denying(r, [
      { handler: 'redirect', config: { to: 'https://intranet.example.com' }, when: [{ request: { cidr: ['10.0.0.0/8', 'fd00::/8'] } }] },
      { handler: 'json' },
    ])
    const from = async (remoteAddress?: string) => {
      const d = await p.run({ ...request({ 'x-user': 'ann' }), remoteAddress })
      return d.allowed ? 0 : d.response.status
    }
    expect(await from('10.1.2.3')).toBe(302)
    expect(await from('::ffff:10.9.9.9')).toBe(302)
    expect(await from('fd00::1')).toBe(302)
    expect(await from('192.168.1.1')).toBe(403)
    expect(await from(undefined)).toBe(403)
  })

  it('refuses a malformed CIDR when compiling, naming where it is', () => {
    const { r } = registries()
    // an empty or non-numeric prefix too: it must never read as /0, which matches every address
    for (const cidr of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/x', '::1/1e2']) {
      expect(() =>
        denying(r, [{ handler: 'json', when: [{ request: { cidr: [cidr] } }] }]),
      ).toThrow(`rules.r.errors[0].when[0].request.cidr: "${cidr}" is not an IP address or CIDR range`)
    }
  })})
