/**
 * Queries are written once, as tagged templates, and rendered per dialect:
 *
 * ```ts
 * db.query(sql`SELECT id, name FROM notes WHERE nid = ${db.nid} AND id IN ${sql.in(ids)}`)
 * ```
 *
 * Interpolated values become bound parameters (`?` on SQLite, `$n` on PostgreSQL),
 * never text. Fragments compose: `sql.id()` quotes an identifier, `sql.join()`
 * joins fragments, `sql.json()` marks a JSON value, `sql.dialect()` picks a
 * fragment per driver for the rare place the two SQLs differ.
 */

export type DialectName = 'sqlite' | 'postgres'

export interface Dialect {
  readonly name: DialectName
  /** The placeholder for the n-th (1-based) parameter. */
  placeholder(n: number): string
  /** Encode a JS value for this driver's bind. */
  encode(value: unknown): unknown
}

const SQL = Symbol.for('tessera.sql')

export class Sql {
  readonly [SQL] = true
  constructor(
    readonly strings: readonly string[],
    readonly values: readonly unknown[],
  ) {}
}

class Raw {
  constructor(readonly text: string) {}
}

class Ident {
  constructor(readonly name: string) {}
}

export class JsonParam {
  constructor(readonly value: unknown) {}
}

class DialectChoice {
  constructor(readonly choices: Partial<Record<DialectName, Sql | string>> & { default?: Sql | string }) {}
}

class Join {
  constructor(
    readonly parts: readonly unknown[],
    readonly separator: string,
  ) {}
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/

export interface SqlTag {
  (strings: TemplateStringsArray, ...values: unknown[]): Sql
  /** Literal SQL text. Never pass user input. */
  raw(text: string): Raw
  /** A quoted identifier (table or column). Only `[A-Za-z_][A-Za-z0-9_]*`. */
  id(name: string): Ident
  /** Fragments or values joined by `separator` (default `, `). */
  join(parts: readonly unknown[], separator?: string): Join
  /** `(p1, p2, ...)` for `IN`; an empty list renders `(NULL)`, which matches nothing. */
  in(values: readonly unknown[]): Sql
  /** A JSON value for a JSONB column. */
  json(value: unknown): JsonParam
  /** A fragment chosen per dialect. */
  dialect(choices: Partial<Record<DialectName, Sql | string>> & { default?: Sql | string }): DialectChoice
  /** The empty fragment. */
  readonly empty: Sql
}

export const sql: SqlTag = Object.assign(
  (strings: TemplateStringsArray, ...values: unknown[]) => new Sql(strings, values),
  {
    raw: (text: string) => new Raw(text),
    id: (name: string) => {
      if (!IDENT.test(name)) throw new TypeError(`invalid SQL identifier: ${JSON.stringify(name)}`)
      return new Ident(name)
    },
    join: (parts: readonly unknown[], separator = ', ') => new Join(parts, separator),
    in: (values: readonly unknown[]) =>
      values.length === 0 ? new Sql(['(NULL)'], []) : new Sql(['(', ')'], [new Join(values, ', ')]),
    json: (value: unknown) => new JsonParam(value),
    dialect: (choices: Partial<Record<DialectName, Sql | string>> & { default?: Sql | string }) =>
      new DialectChoice(choices),
    empty: new Sql([''], []),
  },
)

export interface RenderedQuery {
  text: string
  params: unknown[]
}

const isFragment = (v: unknown): boolean =>
  v instanceof Sql || v instanceof Raw || v instanceof Ident || v instanceof Join || v instanceof DialectChoice

/** Text of flat queries (values only, no fragments) by call site and dialect: built once. */
const flatText: Record<DialectName, WeakMap<readonly string[], string>> = { sqlite: new WeakMap(), postgres: new WeakMap() }

/** Render a query for a dialect: text with placeholders, and encoded parameters. */
export function render(query: Sql, dialect: Dialect): RenderedQuery {
  const values = query.values
  let flat = true
  for (let i = 0; i < values.length; i++) {
    if (isFragment(values[i])) {
      flat = false
      break
    }
  }
  if (flat) {
    const cache = flatText[dialect.name]
    let text = cache.get(query.strings)
    if (text === undefined) {
      text = query.strings[0] ?? ''
      for (let i = 1; i < query.strings.length; i++) text += dialect.placeholder(i) + query.strings[i]
      cache.set(query.strings, text)
    }
    const params = new Array<unknown>(values.length)
    for (let i = 0; i < values.length; i++) params[i] = dialect.encode(values[i])
    return { text, params }
  }
  const params: unknown[] = []
  let text = ''
  const emit = (value: unknown): void => {
    if (value instanceof Sql) {
      for (let i = 0; i < value.strings.length; i++) {
        text += value.strings[i]
        if (i < value.values.length) emit(value.values[i])
      }
    } else if (value instanceof Raw) {
      text += value.text
    } else if (value instanceof Ident) {
      text += `"${value.name}"`
    } else if (value instanceof Join) {
      value.parts.forEach((p, i) => {
        if (i > 0) text += value.separator
        emit(p)
      })
    } else if (value instanceof DialectChoice) {
      const choice = value.choices[dialect.name] ?? value.choices.default
      if (choice === undefined) throw new TypeError(`no SQL fragment for dialect ${dialect.name}`)
      if (typeof choice === 'string') text += choice
      else emit(choice)
    } else {
      params.push(dialect.encode(value))
      text += dialect.placeholder(params.length)
    }
  }
  emit(query)
  return { text, params }
}

/** The statement's text with placeholders, for the tenant guard and logs (no values). */
export function statementText(query: Sql, dialect: Dialect): string {
  return render(query, dialect).text
}
