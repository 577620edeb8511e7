import { describe, expect, it } from 'bun:test'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { context, trace } from '@opentelemetry/api'
import { createLogger, redact } from './logger.ts'

const capture = (opts: Parameters<typeof createLogger>[0] = {}) => {
  const lines: string[] = []
  return { lines, log: createLogger({ sink: (l) => lines.push(l), now: () => new Date('2026-01-01T00:00:00Z'), ...opts }) }
}

describe('logger', () => {
  it('writes one JSON line per event with time, level, msg and the bound fields', () => {
    const { lines, log } = capture()
    log.child({ request_id: 'r-1', tenant: 't-1' }).info('hello', { status: 200 })
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toEqual({ time: '2026-01-01T00:00:00.000Z', level: 'info', msg: 'hello', request_id: 'r-1', tenant: 't-1', status: 200 })
  })

  it('drops lines below the configured level', () => {
    const { lines, log } = capture({ level: 'warn' })
    log.info('quiet')
    log.debug('quieter')
    log.error('loud')
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['loud'])
  })

  it('redacts Authorization, Cookie, Set-Cookie and any password, secret or token field at any depth', () => {
    const { lines, log } = capture()
    log.info('request', {
      headers: new Headers({ Authorization: 'Bearer abc', Cookie: 'sid=xyz', 'X-Trace': 'ok' }),
      response: { 'set-cookie': 'sid=new' },
      body: { traits: { email: 'a@example.com' }, password: 'hunter2', nested: [{ client_secret: 's1', refresh_token: 'rt' }] },
      session_token: 'st',
    })
    const out = lines[0]!
    for (const secret of ['Bearer abc', 'sid=xyz', 'sid=new', 'hunter2', 's1', '"rt"', '"st"']) expect(out).not.toContain(secret)
    const parsed = JSON.parse(out)
    expect(parsed.headers['x-trace']).toBe('ok')
    expect(parsed.headers.authorization).toBe('[REDACTED]')
    expect(parsed.body.traits.email).toBe('a@example.com')
    expect(parsed.body.nested[0].client_secret).toBe('[REDACTED]')
  })

  it('masks credentials inside URLs, in fields and messages', () => {
    const { lines, log } = capture()
    log.error('cannot connect to postgres://tessera:pa55word@db:5432/x', { dsn: 'postgres://tessera:pa55word@db:5432/x' })
    expect(lines[0]).not.toContain('pa55word')
    expect(JSON.parse(lines[0]!).dsn).toBe('postgres://tessera:[REDACTED]@db:5432/x')
  })

  it('serialises errors with their code and cause, and survives cycles', () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    const err = Object.assign(new Error('outer', { cause: new Error('inner') }), { code: 'ERR_X' })
    const out = redact({ err, cyclic }) as { err: { type: string; code: string; cause: { message: string } }; cyclic: { self: string } }
    expect(out.err.code).toBe('ERR_X')
    expect(out.err.cause.message).toBe('inner')
    expect(out.cyclic.self).toBe('[Circular]')
  })

  it('writes text lines for humans when asked', () => {
    const { lines, log } = capture({ format: 'text' })
    log.warn('slow query', { ms: 1200, sql: 'SELECT 1' })
    expect(lines[0]).toBe('2026-01-01T00:00:00.000Z WARN  slow query ms=1200 sql="SELECT 1"')
  })

  it('adds the active trace id', () => {
    const cm = new AsyncLocalStorageContextManager().enable()
    context.setGlobalContextManager(cm)
    const provider = new BasicTracerProvider()
    const tracer = provider.getTracer('t')
    const { lines, log } = capture()
    const span = tracer.startSpan('s')
    context.with(trace.setSpan(context.active(), span), () => log.info('inside'))
    span.end()
    expect(JSON.parse(lines[0]!).trace_id).toBe(span.spanContext().traceId)
    context.disable()
  })
})
