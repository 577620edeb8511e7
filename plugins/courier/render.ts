/**
 * The courier's templates: a small subset of Go's text/template, the syntax Kratos' courier templates use, so
 * that a template directory written for Kratos mostly works here. Compiled once; never evaluated as code.
 *
 *   {{ .RecoveryCode }}                a value by path (`.Identity.traits.email`), escaped for where it lands
 *   {{ if .X }}…{{ else }}…{{ end }}   a condition on a value (Go's truthiness: false, 0, "", [], {} and nil are false)
 *   {{- … -}}                          trims the white space before / after the action
 *   {{/* a comment *\/}}
 *
 * Escaping is automatic and depends on the output: HTML bodies escape every value (`&<>"'`), JSON request bodies
 * escape as inside a JSON string, form bodies URL-encode, text bodies (subject, plain text, SMS) do not escape.
 */

export type Escape = 'html' | 'json' | 'url' | 'none'

type Node = { t: 'text'; s: string } | { t: 'value'; path: string[] } | { t: 'if'; path: string[]; then: Node[]; else: Node[] }

export type Compiled = (data: Record<string, unknown>) => string

const PATH = /^\.[A-Za-z_][\w]*(?:\.[A-Za-z_][\w-]*)*$|^\.$/

function pathOf(src: string, what: string): string[] {
  if (!PATH.test(src)) throw new Error(`unsupported template action {{ ${what} }} (supported: {{ .Field.Path }}, {{ if .Field }}, {{ else }}, {{ end }})`)
  return src === '.' ? [] : src.slice(1).split('.')
}

/** Compile `src`; throws an Error naming the action it does not understand. */
export function compile(src: string, escape: Escape): Compiled {
  // split into text and actions, applying the trim markers
  const parts: ({ text: string } | { action: string })[] = []
  let i = 0
  while (i < src.length) {
    const open = src.indexOf('{{', i)
    if (open === -1) {
      parts.push({ text: src.slice(i) })
      break
    }
    parts.push({ text: src.slice(i, open) })
    const close = src.indexOf('}}', open + 2)
    if (close === -1) throw new Error('unclosed {{ in template')
    let inner = src.slice(open + 2, close)
    if (inner.startsWith('-')) {
      inner = inner.slice(1)
      const prev = parts[parts.length - 1] as { text: string }
      prev.text = prev.text.replace(/\s+$/, '')
    }
    let trimAfter = false
    if (inner.endsWith('-')) {
      inner = inner.slice(0, -1)
      trimAfter = true
    }
    parts.push({ action: inner.trim() })
    i = close + 2
    if (trimAfter) while (i < src.length && /\s/.test(src[i]!)) i++
  }

  // parse into a tree
  const root: Node[] = []
  const stack: { node: Extract<Node, { t: 'if' }>; inElse: boolean }[] = []
  const target = () => {
    const top = stack[stack.length - 1]
    return top ? (top.inElse ? top.node.else : top.node.then) : root
  }
  for (const p of parts) {
    if ('text' in p) {
      if (p.text) target().push({ t: 'text', s: p.text })
      continue
    }
    const a = p.action
    if (a.startsWith('/*') && a.endsWith('*/')) continue
    if (a.startsWith('if ')) {
      const node: Extract<Node, { t: 'if' }> = { t: 'if', path: pathOf(a.slice(3).trim(), a), then: [], else: [] }
      target().push(node)
      stack.push({ node, inElse: false })
    } else if (a === 'else') {
      const top = stack[stack.length - 1]
      if (!top || top.inElse) throw new Error('{{ else }} without {{ if }}')
      top.inElse = true
    } else if (a === 'end') {
      if (!stack.pop()) throw new Error('{{ end }} without {{ if }}')
    } else {
      target().push({ t: 'value', path: pathOf(a, a) })
    }
  }
  if (stack.length) throw new Error('{{ if }} without {{ end }}')

  const esc = ESCAPES[escape]
  const run = (nodes: Node[], data: Record<string, unknown>): string => {
    let out = ''
    for (const n of nodes) {
      if (n.t === 'text') out += n.s
      else if (n.t === 'value') out += esc(show(lookup(data, n.path)))
      else out += run(truthy(lookup(data, n.path)) ? n.then : n.else, data)
    }
    return out
  }
  return (data) => run(root, data)
}

function lookup(data: unknown, path: string[]): unknown {
  let cur = data
  for (const k of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, k)) return undefined
    cur = (cur as Record<string, unknown>)[k]
  }
  return cur
}

function show(x: unknown): string {
  if (x === undefined || x === null) return ''
  return typeof x === 'object' ? JSON.stringify(x) : String(x)
}

function truthy(x: unknown): boolean {
  if (Array.isArray(x)) return x.length > 0
  if (x && typeof x === 'object') return Object.keys(x).length > 0
  return Boolean(x)
}

const HTML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' }
const ESCAPES: Record<Escape, (s: string) => string> = {
  html: (s) => s.replace(/[&<>"']/g, (c) => HTML[c]!),
  json: (s) => JSON.stringify(s).slice(1, -1),
  url: (s) => encodeURIComponent(s),
  none: (s) => s,
}

/**
 * Kratos' template model names for the data a flow hands the courier: `recovery_code` is also `.RecoveryCode`,
 * `verification_url` also `.VerificationURL`, `to` also `.To` (the keys of nested objects such as `identity`
 * stay as they are: `.Identity.traits.email`, as in Kratos).
 */
export function templateModel(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data }
  for (const [k, val] of Object.entries(data)) {
    const go = k
      .split('_')
      .map((w) => (w === 'url' || w === 'id' ? w.toUpperCase() : w.charAt(0).toUpperCase() + w.slice(1)))
      .join('')
    if (!Object.hasOwn(out, go)) out[go] = val
  }
  return out
}
