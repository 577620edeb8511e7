/**
 * Tracing over @opentelemetry/api. Until an SDK registers a tracer provider
 * these calls are no-ops, so the core carries no SDK dependency.
 */
import {
  type Attributes,
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  type Span,
  SpanStatusCode,
  context,
  propagation,
  trace,
} from '@opentelemetry/api'

/** The API's own no-op provider: what a fresh proxy delegates to until an SDK registers one. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate()
/** One shared span that records nothing, for when no SDK is registered. */
export const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT)

/**
 * Is an OpenTelemetry SDK registered? Checked per call (an SDK may register after boot), and cheap:
 * without one, the hot paths skip building spans and contexts that would record nothing.
 */
export function tracingEnabled(): boolean {
  const provider = trace.getTracerProvider()
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_PROVIDER
}

export function tracer() {
  return trace.getTracer('tessera')
}

/**
 * Run `fn` inside an active span named `name`. The span records an exception
 * and an error status when `fn` throws, and always ends.
 * Attribute keys should live under `tessera.*`. Without an SDK, `fn` runs with a no-op span and its answer
 * comes back as it is (synchronous when `fn` is): await it either way.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T> | T): Promise<T> | T {
  if (!tracingEnabled()) return fn(NOOP_SPAN)
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span)
    } catch (e) {
      span.recordException(e instanceof Error ? e : String(e))
      span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) })
      throw e
    } finally {
      span.end()
    }
  })
}

/** Extract W3C trace context (traceparent) from request headers, for server spans. */
export function extractContext(headers: Headers) {
  return propagation.extract(context.active(), headers, {
    get: (carrier, key) => carrier.get(key) ?? undefined,
    keys: (carrier) => [...carrier.keys()],
  })
}
