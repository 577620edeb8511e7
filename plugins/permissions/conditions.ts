/**
 * Conditions: structured, data-only expressions a relation tuple, or a relation or permission of the model
 * (`relationConditions`), may carry, evaluated against the request
 * context at check time. Never code: a condition is JSON validated against the schema below and interpreted
 * by `evaluate`, which only compares values.
 *
 *   { "eq": [{ "context": "organization" }, "acme"] }                        access by organization
 *   { "in": [{ "context": "plan" }, ["pro", "enterprise"]] }                  by billing plan
 *   { "time_window": { "from": "09:00", "to": "17:00", "weekdays": [1,2,3,4,5], "timezone": "Europe/Berlin" } }
 *                                                                            a banking time lock (server clock)
 *   { "all": [...] }, { "any": [...] }, { "not": {...} }                      combinations
 *
 * A context key that is missing makes its comparison false (fail closed). Time comes from the server's clock,
 * never from the request, so a caller cannot open a time lock by sending another time.
 */
import * as v from 'valibot'

type Scalar = string | number | boolean
export type Operand = Scalar | { context: string }

export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | { eq: [Operand, Operand] }
  | { ne: [Operand, Operand] }
  | { lt: [Operand, Operand] }
  | { lte: [Operand, Operand] }
  | { gt: [Operand, Operand] }
  | { gte: [Operand, Operand] }
  | { in: [Operand, Scalar[]] }
  | { time_window: { from: string; to: string; weekdays?: number[]; timezone?: string } }

const ScalarSchema = v.union([v.pipe(v.string(), v.maxLength(256)), v.number(), v.boolean()])
const OperandSchema = v.union([ScalarSchema, v.strictObject({ context: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected a context key')) })])
const Pair = v.tuple([OperandSchema, OperandSchema])
const HHMM = v.pipe(v.string(), v.regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM'))
const TimeZone = v.pipe(
  v.string(),
  v.check((tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz })
      return true
    } catch {
      return false
    }
  }, 'expected an IANA time zone'),
)

export const ConditionSchema: v.GenericSchema<Condition> = v.lazy(() =>
  v.union([
    v.strictObject({ all: v.pipe(v.array(ConditionSchema), v.minLength(1), v.maxLength(16)) }),
    v.strictObject({ any: v.pipe(v.array(ConditionSchema), v.minLength(1), v.maxLength(16)) }),
    v.strictObject({ not: ConditionSchema }),
    v.strictObject({ eq: Pair }),
    v.strictObject({ ne: Pair }),
    v.strictObject({ lt: Pair }),
    v.strictObject({ lte: Pair }),
    v.strictObject({ gt: Pair }),
    v.strictObject({ gte: Pair }),
    v.strictObject({ in: v.tuple([OperandSchema, v.pipe(v.array(ScalarSchema), v.maxLength(256))]) }),
    v.strictObject({
      time_window: v.strictObject({
        from: HHMM,
        to: HHMM,
        weekdays: v.optional(v.array(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(6)))),
        timezone: v.optional(TimeZone),
      }),
    }),
  ]),
) as v.GenericSchema<Condition>

/** Nesting deeper than this is refused at write time. */
export const MAX_CONDITION_DEPTH = 8

export function conditionDepth(c: Condition): number {
  if ('all' in c) return 1 + Math.max(...c.all.map(conditionDepth))
  if ('any' in c) return 1 + Math.max(...c.any.map(conditionDepth))
  if ('not' in c) return 1 + conditionDepth(c.not)
  return 1
}

/** A condition as tuples and `relationConditions` accept it: valid, and nested at most MAX_CONDITION_DEPTH deep. */
export const BoundedConditionSchema = v.pipe(
  ConditionSchema,
  v.check((c) => conditionDepth(c) <= MAX_CONDITION_DEPTH, `conditions nest at most ${MAX_CONDITION_DEPTH} deep`),
)

export type Context = Record<string, unknown>

const MISSING = Symbol('missing')

function value(o: Operand, ctx: Context): Scalar | typeof MISSING {
  if (typeof o === 'object') {
    const x = Object.hasOwn(ctx, o.context) ? ctx[o.context] : undefined
    return typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean' ? x : MISSING
  }
  return o
}

function compare(pair: [Operand, Operand], ctx: Context, ok: (a: Scalar, b: Scalar) => boolean, ordered = false): boolean {
  const a = value(pair[0], ctx)
  const b = value(pair[1], ctx)
  if (a === MISSING || b === MISSING) return false
  if (ordered && typeof a !== typeof b) return false
  return ok(a, b)
}

function minutesNow(now: Date, timezone: string): { minutes: number; weekday: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hour: '2-digit', minute: '2-digit', weekday: 'short', hourCycle: 'h23' }).formatToParts(now)
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? ''
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(get('weekday'))
  return { minutes: Number(get('hour')) * 60 + Number(get('minute')), weekday }
}

/** Evaluate a condition against a request context; `now` is the server's clock. */
export function evaluate(c: Condition, ctx: Context, now: Date = new Date()): boolean {
  if ('all' in c) return c.all.every((x) => evaluate(x, ctx, now))
  if ('any' in c) return c.any.some((x) => evaluate(x, ctx, now))
  if ('not' in c) return !evaluate(c.not, ctx, now)
  if ('eq' in c) return compare(c.eq, ctx, (a, b) => a === b)
  if ('ne' in c) return compare(c.ne, ctx, (a, b) => a !== b)
  if ('lt' in c) return compare(c.lt, ctx, (a, b) => a < b, true)
  if ('lte' in c) return compare(c.lte, ctx, (a, b) => a <= b, true)
  if ('gt' in c) return compare(c.gt, ctx, (a, b) => a > b, true)
  if ('gte' in c) return compare(c.gte, ctx, (a, b) => a >= b, true)
  if ('in' in c) {
    const a = value(c.in[0], ctx)
    return a !== MISSING && c.in[1].includes(a)
  }
  const w = c.time_window
  const { minutes, weekday } = minutesNow(now, w.timezone ?? 'UTC')
  if (w.weekdays && !w.weekdays.includes(weekday)) return false
  const toMin = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3))
  const from = toMin(w.from)
  const to = toMin(w.to)
  return from <= to ? minutes >= from && minutes < to : minutes >= from || minutes < to
}
