import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { SpanStatusCode, context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { withSpan } from './telemetry.ts'

describe('withSpan', () => {
  const exporter = new InMemorySpanExporter()
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
  })
  afterAll(() => {
    trace.disable()
    context.disable()
  })

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
