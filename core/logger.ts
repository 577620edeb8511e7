/**
 * Structured logger: one line per event.
 *
 * JSON format: `{"time","level","msg","request_id","trace_id","tenant",...}`.
 * Text format: `time LEVEL msg key=value ...` for humans at a terminal.
 *
 * Redaction happens here, at the only place a line is written, so no caller can
 * forget it: `authorization`, `cookie`, `set-cookie`, and any key containing
 * `password`, `secret` or `token` is replaced by `[REDACTED]` at any depth, and
 * credentials inside URLs (`postgres://user:pass@host`) are masked.
 *
 * Written by hand rather than with pino: the redaction must be recursive over
 * key *patterns* (pino's redact wants exact paths), output must be synchronous
 * and capturable in tests, and the whole thing is short.
 */
import { trace } from '@opentelemetry/api'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'fatal'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export type LogFormat = 'json' | 'text'

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, fatal: 50 }

export type LogFields = Record<string, unknown>

export type LogSink = (line: string, level: LogLevel) => void

export interface LoggerOptions {
  level?: LogLevel
  format?: LogFormat
  sink?: LogSink
  /** Fields added to every line. */
  fields?: LogFields
  /** Clock, for tests. */
  now?: () => Date
}

const REDACTED = '[REDACTED]'
const SENSITIVE_EXACT = new Set(['authorization', 'cookie', 'set-cookie', 'proxy-authorization', 'x-session-token'])
const SENSITIVE_PART = /password|secret|token|passwd|private_?key|api_?key|dsn_password/i
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^:@/\s]+):([^@/\s]+)@/gi

export function isSensitiveKey(key: string): boolean {
  const k = key.toLowerCase()
  return SENSITIVE_EXACT.has(k) || SENSITIVE_PART.test(k)
}

/** Mask `scheme://user:password@` in a string. */
function maskUrlCredentials(s: string): string {
  return s.replace(URL_CREDENTIALS, `$1$2:${REDACTED}@`)
}

/** A deep copy of `value` with sensitive keys redacted. Handles Headers, Maps, Errors and cycles. */
export function redact(value: unknown, seen: WeakSet<object> = new WeakSet(), depth = 0): unknown {
  if (typeof value === 'string') return maskUrlCredentials(value)
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return value.toString()
    if (typeof value === 'function' || typeof value === 'symbol') return undefined
    return value
  }
  if (depth > 8) return '[Truncated]'
  if (seen.has(value)) return '[Circular]'
  seen.add(value)
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Error) {
    const out: Record<string, unknown> = { type: value.name, message: maskUrlCredentials(value.message) }
    const code = (value as { code?: unknown }).code
    if (code !== undefined) out.code = code
    if (value.stack) out.stack = maskUrlCredentials(value.stack)
    if (value.cause !== undefined) out.cause = redact(value.cause, seen, depth + 1)
    return out
  }
  if (typeof Headers !== 'undefined' && value instanceof Headers) {
    const out: Record<string, unknown> = {}
    value.forEach((v, k) => {
      out[k] = isSensitiveKey(k) ? REDACTED : maskUrlCredentials(v)
    })
    return out
  }
  if (value instanceof Map) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of value) out[String(k)] = isSensitiveKey(String(k)) ? REDACTED : redact(v, seen, depth + 1)
    return out
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, seen, depth + 1))
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSensitiveKey(k) && v !== null && v !== undefined ? REDACTED : redact(v, seen, depth + 1)
  }
  return out
}

export interface Logger {
  readonly level: LogLevel
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
  fatal(msg: string, fields?: LogFields): void
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger
  enabled(level: LogLevel): boolean
}

const defaultSink: LogSink = (line, level) => {
  if (level === 'error' || level === 'fatal') process.stderr.write(line + '\n')
  else process.stdout.write(line + '\n')
}

function formatText(record: Record<string, unknown>): string {
  const { time, level, msg, ...rest } = record
  const parts = [String(time), String(level).toUpperCase().padEnd(5), String(msg)]
  for (const [k, v] of Object.entries(rest)) {
    if (v === undefined) continue
    const s = typeof v === 'string' ? (/[\s"=]/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)
    parts.push(`${k}=${s}`)
  }
  return parts.join(' ')
}

class JsonLogger implements Logger {
  readonly level: LogLevel
  readonly #format: LogFormat
  readonly #sink: LogSink
  readonly #fields: LogFields
  readonly #now: () => Date

  constructor(opts: LoggerOptions = {}) {
    this.level = opts.level ?? 'info'
    this.#format = opts.format ?? 'json'
    this.#sink = opts.sink ?? defaultSink
    this.#fields = opts.fields ?? {}
    this.#now = opts.now ?? (() => new Date())
  }

  enabled(level: LogLevel): boolean {
    return LEVEL_RANK[level] >= LEVEL_RANK[this.level]
  }

  #write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return
    const record: Record<string, unknown> = { time: this.#now().toISOString(), level, msg: maskUrlCredentials(msg) }
    const merged = { ...this.#fields, ...fields }
    if (merged.trace_id === undefined) {
      const span = trace.getActiveSpan()
      const traceId = span?.spanContext().traceId
      if (traceId && traceId !== '00000000000000000000000000000000') merged.trace_id = traceId
    }
    const safe = redact(merged) as Record<string, unknown>
    for (const [k, v] of Object.entries(safe)) if (v !== undefined && k !== 'time' && k !== 'level' && k !== 'msg') record[k] = v
    let line: string
    try {
      line = this.#format === 'text' ? formatText(record) : JSON.stringify(record)
    } catch {
      line = JSON.stringify({ time: record.time, level, msg: record.msg, log_error: 'unserializable fields' })
    }
    this.#sink(line, level)
  }

  readonly debug = (msg: string, fields?: LogFields): void => this.#write('debug', msg, fields)
  readonly info = (msg: string, fields?: LogFields): void => this.#write('info', msg, fields)
  readonly warn = (msg: string, fields?: LogFields): void => this.#write('warn', msg, fields)
  readonly error = (msg: string, fields?: LogFields): void => this.#write('error', msg, fields)
  readonly fatal = (msg: string, fields?: LogFields): void => this.#write('fatal', msg, fields)

  child(fields: LogFields): Logger {
    return new JsonLogger({
      level: this.level,
      format: this.#format,
      sink: this.#sink,
      fields: { ...this.#fields, ...fields },
      now: this.#now,
    })
  }
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return new JsonLogger(opts)
}

/** A logger that writes nothing; for library use before a logger is configured. */
export const silentLogger: Logger = createLogger({ sink: () => {}, level: 'fatal' })
