/**
 * A parser for the Ory Permission Language: the TypeScript subset Keto accepts.
 *
 * ```ts
 * class Folder implements Namespace {
 *   related: { parents: Folder[]; viewers: (User | SubjectSet<Group, "members">)[] }
 *   permits = {
 *     view: (ctx: Context): boolean =>
 *       this.related.viewers.includes(ctx.subject) || this.related.parents.traverse((p) => p.permits.view(ctx)),
 *   }
 * }
 * ```
 *
 * The result is a `Model`: namespaces, their relations (with subject types) and their permissions
 * (rewrite trees). Errors carry 1-based line and column of where they start and end, in the shape of
 * Keto's `POST /opl/syntax/check` (`{ message, start: { Line, column }, end: { Line, column } }`).
 * Nothing of the source is ever evaluated.
 */
import type { Condition } from './conditions.ts'

export type Rewrite =
  | { op: 'or' | 'and'; children: Rewrite[] }
  | { op: 'not'; child: Rewrite }
  /** `this.related.R.includes(ctx.subject)` or `this.permits.R(ctx)`: R on the same object. */
  | { op: 'computed'; relation: string }
  /** `this.related.R.traverse((x) => x.permits.P(ctx))`: P on every subject set reached through R. */
  | { op: 'ttu'; relation: string; computed: string }

export interface RelationType {
  namespace: string
  /** For `SubjectSet<Ns, "rel">`. */
  relation?: string
}

export interface NamespaceModel {
  name: string
  /** Declared relations (stored tuples) and their subject types. */
  relations: Map<string, RelationType[]>
  /** Permissions: computed, never stored. */
  permits: Map<string, Rewrite>
  /** Conditions on relations or permissions (`relationConditions`); absent when there are none. */
  conditions?: Map<string, Condition>
}

export type Model = Map<string, NamespaceModel>

export interface SourcePosition {
  Line: number
  column: number
}

export interface ParseError {
  message: string
  start: SourcePosition
  end: SourcePosition
}

interface Token {
  kind: 'ident' | 'string' | 'punct' | 'eof'
  text: string
  line: number
  col: number
  endLine: number
  endCol: number
}

const PUNCT = ['=>', '||', '&&', '{', '}', '(', ')', '[', ']', '<', '>', ':', ';', ',', '.', '=', '|', '!', '?', '*']

class OplSyntaxError extends Error {
  constructor(
    message: string,
    readonly token: Pick<Token, 'line' | 'col' | 'endLine' | 'endCol'>,
  ) {
    super(message)
  }
}

function tokenize(src: string): Token[] {
  const out: Token[] = []
  let i = 0
  let line = 1
  let col = 1
  const advance = (n: number) => {
    for (let k = 0; k < n; k++) {
      if (src[i] === '\n') {
        line++
        col = 1
      } else col++
      i++
    }
  }
  while (i < src.length) {
    const c = src[i]!
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      advance(1)
      continue
    }
    if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n') advance(1)
      continue
    }
    if (src.startsWith('/*', i)) {
      const start = { line, col, endLine: line, endCol: col + 2 }
      const end = src.indexOf('*/', i + 2)
      if (end < 0) throw new OplSyntaxError('unclosed comment', start)
      advance(end + 2 - i)
      continue
    }
    const startLine = line
    const startCol = col
    if (/[A-Za-z_$]/.test(c)) {
      let j = i
      while (j < src.length && /[A-Za-z0-9_$]/.test(src[j]!)) j++
      const text = src.slice(i, j)
      advance(j - i)
      out.push({ kind: 'ident', text, line: startLine, col: startCol, endLine: line, endCol: col })
      continue
    }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1
      while (j < src.length && src[j] !== c && src[j] !== '\n') j++
      if (src[j] !== c) throw new OplSyntaxError('unterminated string', { line, col, endLine: line, endCol: col + (j - i) })
      const text = src.slice(i + 1, j)
      advance(j + 1 - i)
      out.push({ kind: 'string', text, line: startLine, col: startCol, endLine: line, endCol: col })
      continue
    }
    const p = PUNCT.find((x) => src.startsWith(x, i))
    if (!p) throw new OplSyntaxError(`unexpected character ${JSON.stringify(c)}`, { line, col, endLine: line, endCol: col + 1 })
    advance(p.length)
    out.push({ kind: 'punct', text: p, line: startLine, col: startCol, endLine: line, endCol: col })
  }
  out.push({ kind: 'eof', text: '', line, col, endLine: line, endCol: col })
  return out
}

interface PendingCheck {
  /** namespace, relation name, and the token to blame. */
  ns: string
  kind: 'relation' | 'permission-or-relation' | 'traverse'
  relation: string
  computed?: string
  token: Token
}

class Parser {
  pos = 0
  readonly pending: PendingCheck[] = []
  constructor(readonly toks: Token[]) {}

  get peek(): Token {
    return this.toks[this.pos]!
  }
  next(): Token {
    const t = this.toks[this.pos]!
    if (t.kind !== 'eof') this.pos++
    return t
  }
  is(text: string): boolean {
    const t = this.peek
    return (t.kind === 'punct' || t.kind === 'ident') && t.text === text
  }
  eat(text: string): boolean {
    if (this.is(text)) {
      this.next()
      return true
    }
    return false
  }
  fail(expected: string, t = this.peek): never {
    const got = t.kind === 'eof' ? 'end of input' : JSON.stringify(t.text)
    throw new OplSyntaxError(`expected ${expected}, got ${got}`, t)
  }
  expect(text: string): Token {
    if (!this.is(text)) this.fail(JSON.stringify(text))
    return this.next()
  }
  ident(what = 'identifier'): Token {
    if (this.peek.kind !== 'ident') this.fail(what)
    return this.next()
  }

  parseFile(): Model {
    const model: Model = new Map()
    while (this.peek.kind !== 'eof') {
      if (this.is('import')) this.skipImport()
      else if (this.is('export')) this.next()
      else if (this.is('class')) {
        const ns = this.parseClass()
        if (model.has(ns.name)) throw new OplSyntaxError(`namespace ${JSON.stringify(ns.name)} is declared twice`, this.toks[this.pos - 1]!)
        model.set(ns.name, ns)
      } else if (this.is(';')) this.next()
      else this.fail('"class"')
    }
    return model
  }

  skipImport() {
    // import { Namespace, SubjectSet, Context } from "@ory/keto-namespace-types"
    this.expect('import')
    while (this.peek.kind !== 'eof' && this.peek.kind !== 'string') this.next()
    if (this.peek.kind !== 'string') this.fail('a module name')
    this.next()
    this.eat(';')
  }

  parseClass(): NamespaceModel {
    this.expect('class')
    const name = this.ident('a class name').text
    this.expect('implements')
    const iface = this.ident('"Namespace"')
    if (iface.text !== 'Namespace') this.fail('"Namespace"', iface)
    this.expect('{')
    const ns: NamespaceModel = { name, relations: new Map(), permits: new Map() }
    while (!this.is('}')) {
      const member = this.ident('"related" or "permits"')
      if (member.text === 'related') {
        this.expect(':')
        this.parseRelated(ns)
      } else if (member.text === 'permits') {
        this.expect('=')
        this.parsePermits(ns)
      } else this.fail('"related" or "permits"', member)
      this.eat(';')
    }
    this.expect('}')
    return ns
  }

  parseRelated(ns: NamespaceModel) {
    this.expect('{')
    while (!this.is('}')) {
      const rel = this.relationName()
      if (ns.relations.has(rel.text)) throw new OplSyntaxError(`relation ${JSON.stringify(rel.text)} is declared twice`, rel)
      this.expect(':')
      ns.relations.set(rel.text, this.parseTypeArray())
      if (!this.eat(';')) this.eat(',')
    }
    this.expect('}')
  }

  relationName(): Token {
    if (this.peek.kind === 'ident' || this.peek.kind === 'string') return this.next()
    this.fail('a relation name')
  }

  /** `User[]`, `(User | SubjectSet<Group, "members">)[]`, `Array<User | …>`. */
  parseTypeArray(): RelationType[] {
    if (this.is('Array')) {
      this.next()
      this.expect('<')
      const types = this.parseUnion()
      this.expect('>')
      return types
    }
    let types: RelationType[]
    if (this.eat('(')) {
      types = this.parseUnion()
      this.expect(')')
    } else types = [this.parseType()]
    this.expect('[')
    this.expect(']')
    return types
  }

  parseUnion(): RelationType[] {
    const types = [this.parseType()]
    while (this.eat('|')) types.push(this.parseType())
    return types
  }

  parseType(): RelationType {
    const t = this.ident('a type')
    if (t.text === 'SubjectSet') {
      this.expect('<')
      const nsTok = this.ident('a namespace')
      this.expect(',')
      if (this.peek.kind !== 'string') this.fail('a relation name in quotes')
      const rel = this.next()
      this.expect('>')
      this.pending.push({ ns: nsTok.text, kind: 'relation', relation: rel.text, token: rel })
      return { namespace: nsTok.text, relation: rel.text }
    }
    this.pending.push({ ns: t.text, kind: 'relation', relation: '', token: t })
    return { namespace: t.text }
  }

  parsePermits(ns: NamespaceModel) {
    this.expect('{')
    while (!this.is('}')) {
      const name = this.relationName()
      if (ns.permits.has(name.text) || ns.relations.has(name.text)) {
        throw new OplSyntaxError(`${JSON.stringify(name.text)} is declared twice in ${ns.name}`, name)
      }
      this.expect(':')
      this.expect('(')
      const ctxName = this.ident('a context parameter').text
      if (this.eat(':')) this.ident('"Context"')
      this.expect(')')
      if (this.eat(':')) this.ident('"boolean"')
      this.expect('=>')
      let body: Rewrite
      if (this.eat('{')) {
        this.expect('return')
        body = this.parseOr(ns.name, ctxName, 'this')
        this.eat(';')
        this.expect('}')
      } else body = this.parseOr(ns.name, ctxName, 'this')
      ns.permits.set(name.text, body)
      if (!this.eat(',')) this.eat(';')
    }
    this.expect('}')
  }

  parseOr(ns: string, ctx: string, self: string): Rewrite {
    const children = [this.parseAnd(ns, ctx, self)]
    while (this.eat('||')) children.push(this.parseAnd(ns, ctx, self))
    return children.length === 1 ? children[0]! : { op: 'or', children }
  }

  parseAnd(ns: string, ctx: string, self: string): Rewrite {
    const children = [this.parseUnary(ns, ctx, self)]
    while (this.eat('&&')) children.push(this.parseUnary(ns, ctx, self))
    return children.length === 1 ? children[0]! : { op: 'and', children }
  }

  parseUnary(ns: string, ctx: string, self: string): Rewrite {
    if (this.eat('!')) return { op: 'not', child: this.parseUnary(ns, ctx, self) }
    if (this.eat('(')) {
      const r = this.parseOr(ns, ctx, self)
      this.expect(')')
      return r
    }
    return this.parseCall(ns, ctx, self)
  }

  /** `this.related.R.includes(ctx.subject)`, `this.permits.P(ctx)`, `this.related.R.traverse((x) => …)`. */
  parseCall(ns: string, ctx: string, self: string): Rewrite {
    const head = this.ident(`"${self}"`)
    if (head.text !== self) this.fail(`"${self}"`, head)
    this.expect('.')
    const kind = this.ident('"related" or "permits"')
    if (kind.text === 'permits') {
      this.expect('.')
      const p = this.relationName()
      this.expect('(')
      this.expectCtx(ctx)
      this.expect(')')
      this.pending.push({ ns, kind: 'permission-or-relation', relation: p.text, token: p })
      return { op: 'computed', relation: p.text }
    }
    if (kind.text !== 'related') this.fail('"related" or "permits"', kind)
    this.expect('.')
    const rel = this.relationName()
    this.pending.push({ ns, kind: 'relation', relation: rel.text, token: rel })
    this.expect('.')
    const method = this.ident('"includes" or "traverse"')
    if (method.text === 'includes') {
      this.expect('(')
      this.expectCtx(ctx)
      this.expect('.')
      const s = this.ident('"subject"')
      if (s.text !== 'subject') this.fail('"subject"', s)
      this.expect(')')
      return { op: 'computed', relation: rel.text }
    }
    if (method.text !== 'traverse') this.fail('"includes" or "traverse"', method)
    this.expect('(')
    const parens = this.eat('(')
    const param = this.ident('a parameter name').text
    if (parens) this.expect(')')
    this.expect('=>')
    const inner = this.parseTraverseBody(param, ctx)
    this.expect(')')
    this.pending.push({ ns, kind: 'traverse', relation: rel.text, computed: inner.relation, token: inner.token })
    return { op: 'ttu', relation: rel.text, computed: inner.relation }
  }

  /** `x.permits.P(ctx)` or `x.related.R.includes(ctx.subject)`. */
  parseTraverseBody(param: string, ctx: string): { relation: string; token: Token } {
    const head = this.ident(`"${param}"`)
    if (head.text !== param) this.fail(`"${param}"`, head)
    this.expect('.')
    const kind = this.ident('"related" or "permits"')
    this.expect('.')
    const rel = this.relationName()
    if (kind.text === 'permits') {
      this.expect('(')
      this.expectCtx(ctx)
      this.expect(')')
    } else if (kind.text === 'related') {
      this.expect('.')
      const m = this.ident('"includes"')
      if (m.text !== 'includes') this.fail('"includes"', m)
      this.expect('(')
      this.expectCtx(ctx)
      this.expect('.')
      this.expect('subject')
      this.expect(')')
    } else this.fail('"related" or "permits"', kind)
    return { relation: rel.text, token: rel }
  }

  expectCtx(ctx: string) {
    const t = this.ident(`"${ctx}"`)
    if (t.text !== ctx) this.fail(`"${ctx}"`, t)
  }
}

function toParseError(e: OplSyntaxError): ParseError {
  return {
    message: e.message,
    start: { Line: e.token.line, column: e.token.col },
    end: { Line: e.token.endLine, column: e.token.endCol },
  }
}

/** Check what the grammar cannot: every referenced namespace and relation exists. */
function semanticErrors(model: Model, pending: PendingCheck[]): ParseError[] {
  const errors: ParseError[] = []
  const err = (message: string, t: Token) => errors.push(toParseError(new OplSyntaxError(message, t)))
  for (const p of pending) {
    const ns = model.get(p.ns)
    if (!ns) {
      err(`namespace ${JSON.stringify(p.ns)} was not declared`, p.token)
      continue
    }
    if (p.kind === 'relation') {
      if (p.relation && !ns.relations.has(p.relation) && !ns.permits.has(p.relation)) {
        err(`relation ${JSON.stringify(p.relation)} was not declared in namespace ${JSON.stringify(p.ns)}`, p.token)
      }
    } else if (p.kind === 'permission-or-relation') {
      if (!ns.relations.has(p.relation) && !ns.permits.has(p.relation)) {
        err(`permission ${JSON.stringify(p.relation)} was not declared in namespace ${JSON.stringify(p.ns)}`, p.token)
      }
    } else {
      // traverse: every namespace the relation can point to must declare the computed relation
      const types = ns.relations.get(p.relation) ?? []
      for (const t of types) {
        const target = model.get(t.namespace)
        if (target && !target.relations.has(p.computed!) && !target.permits.has(p.computed!)) {
          err(`relation ${JSON.stringify(p.computed)} was not declared in namespace ${JSON.stringify(t.namespace)}`, p.token)
        }
      }
    }
  }
  return errors
}

export type ParseResult = { model: Model; errors: [] } | { model: null; errors: ParseError[] }

/** Parse OPL source into a model, or the errors with their positions. */
export function parseOpl(source: string): ParseResult {
  let parser: Parser
  let model: Model
  try {
    parser = new Parser(tokenize(source))
    model = parser.parseFile()
  } catch (e) {
    if (e instanceof OplSyntaxError) return { model: null, errors: [toParseError(e)] }
    throw e
  }
  const errors = semanticErrors(model, parser.pending)
  return errors.length ? { model: null, errors } : { model, errors: [] }
}
