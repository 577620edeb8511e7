import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { SpanStatusCode, context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { withSpan } from './telemetry.ts'

// one SDK for the file, as an application registers it; every span ends up in the exporter
const exporter = new InMemorySpanExporter()
beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
})
afterAll(() => {
  trace.disable()
  context.disable()
})

describe('withSpan', () => {

  it('records a span with its attributes, nested under the active one', async () => {
    const result = await withSpan('outer', { 'tessera.rule_id': 'r1' }, () =>
      withSpan('inner', {}, async () => {
        await Bun.sleep(1)
        return 42
      }),
    )
    expect(result).toBe(42)
    const spans = exporter.getFinishedSpans()
    const outer = spans.find((s) => s.name === 'outer')!
    const inner = spans.find((s) => s.name === 'inner')!
    expect(outer.attributes['tessera.rule_id']).toBe('r1')
    expect(inner.spanContext().traceId).toBe(outer.spanContext().traceId)
    expect(inner.parentSpanContext?.spanId).toBe(outer.spanContext().spanId)
  })

  it('marks the span as an error and rethrows', async () => {
    exporter.reset()
    await expect(withSpan('failing', {}, () => Promise.reject(new Error('nope')))).rejects.toThrow('nope')
    const [span] = exporter.getFinishedSpans()
    expect(span!.status.code).toBe(SpanStatusCode.ERROR)
    expect(span!.events.some((e) => e.name === 'exception')).toBe(true)
  })
})

describe('spans of tessera serve, with an OpenTelemetry SDK registered', () => {

  it('records a server span per request, for raw and Elysia routes, with the pipeline span under it', async () => {
    exporter.reset()
    const { definePlugin } = await import('./plugin.ts')
    const { compilePipeline } = await import('./pipeline/run.ts')
    const { AUTHENTICATED } = await import('./pipeline/types.ts')
    const { serve } = await import('../server/index.ts')
    const { bootKernel } = await import('../test/helpers/app.ts')
    let pipeline: ReturnType<typeof compilePipeline> | undefined
    const traced = definePlugin({
      id: 'traced',
      authenticators: [{ id: 'anyone', authenticate: (_q, s) => ((s.subject = 'ann'), AUTHENTICATED) }],
      authorizers: [{ id: 'yes', authorize: () => ({ allowed: true }) }],
      rawRoutes: {
        public: [
          {
            path: '/raw',
            handle: async (request, rc) => {
              pipeline ??= compilePipeline({ id: 'r1', authenticators: [{ handler: 'anyone' }], authorizer: { handler: 'yes' }, mutators: [] }, kernel.registries)
              const d = await pipeline.run({ method: 'GET', url: new URL(request.url), headers: request.headers, tenant: rc.tenant })
              return Response.json({ allowed: d.allowed, trace: trace.getActiveSpan()?.spanContext().traceId ?? null })
            },
          },
        ],
      },
      routes: { public: (app) => app.get('/elysia', () => ({ ok: true })) },
    })
    const kernel = await bootKernel([traced()], { config: { serve: { public: { host: '127.0.0.1', port: 0 }, admin: { enabled: false } } } as never, start: false })
    const server = await serve(kernel)
    try {
      const raw = await (await fetch(`${server.publicUrl}/raw`)).json()
      expect((await fetch(`${server.publicUrl}/elysia`)).status).toBe(200)
      const spans = exporter.getFinishedSpans()
      const rawSpan = spans.find((s) => s.name === 'GET /raw')!
      expect(rawSpan.attributes).toMatchObject({ 'http.request.method': 'GET', 'url.path': '/raw', 'http.response.status_code': 200, 'tessera.listener': 'public' })
      // the handler ran inside the server span
      expect(raw).toEqual({ allowed: true, trace: rawSpan.spanContext().traceId })
      const pipelineSpan = spans.find((s) => s.name === 'tessera.pipeline')!
      expect(pipelineSpan.parentSpanContext?.spanId).toBe(rawSpan.spanContext().spanId)
      expect(pipelineSpan.attributes).toMatchObject({ 'tessera.rule_id': 'r1', 'tessera.authenticator': 'anyone', 'tessera.subject': 'ann' })
      expect(spans.find((s) => s.name === 'GET /elysia')?.attributes['http.response.status_code']).toBe(200)
    } finally {
      await server.stop()
    }
  })
})
