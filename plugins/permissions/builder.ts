/**
 * A typed builder for namespaces in `tessera.config.ts`, for those who prefer code to OPL source. It emits
 * OPL, so both forms go through the same parser and checks and produce the same model.
 *
 * ```ts
 * import { defineNamespaces, includes, or, traverse, subjectSet } from 'tessera/plugins/permissions'
 *
 * permissions({
 *   namespaces: defineNamespaces({
 *     User: {},
 *     Group: { related: { members: ['User', subjectSet('Group', 'members')] } },
 *     Folder: {
 *       related: { parents: ['Folder'], viewers: ['User', subjectSet('Group', 'members')] },
 *       permits: { view: or(includes('viewers'), traverse('parents', 'view')) },
 *     },
 *   }),
 * })
 * ```
 */

export type Expr =
  | { kind: 'or' | 'and'; children: Expr[] }
  | { kind: 'not'; child: Expr }
  | { kind: 'includes'; relation: string }
  | { kind: 'permits'; permission: string }
  | { kind: 'traverse'; relation: string; permission: string }

export interface SubjectSetRef<N extends string> {
  namespace: N
  relation: string
}

export interface NamespaceSpec<N extends string> {
  related?: Record<string, readonly (N | SubjectSetRef<N>)[]>
  permits?: Record<string, Expr>
}

/** `this.related.R.includes(ctx.subject)` */
export const includes = (relation: string): Expr => ({ kind: 'includes', relation })
/** `this.permits.P(ctx)` */
export const permits = (permission: string): Expr => ({ kind: 'permits', permission })
/** `this.related.R.traverse((x) => x.permits.P(ctx))` */
export const traverse = (relation: string, permission: string): Expr => ({ kind: 'traverse', relation, permission })
export const or = (...children: Expr[]): Expr => ({ kind: 'or', children })
export const and = (...children: Expr[]): Expr => ({ kind: 'and', children })
export const not = (child: Expr): Expr => ({ kind: 'not', child })
export const subjectSet = <N extends string>(namespace: N, relation: string): SubjectSetRef<N> => ({ namespace, relation })

const NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/
const name = (s: string, what: string) => {
  if (!NAME.test(s)) throw new TypeError(`${what} ${JSON.stringify(s)} must be an identifier`)
  return s
}

function expr(e: Expr): string {
  switch (e.kind) {
    case 'or':
      return `(${e.children.map(expr).join(' || ')})`
    case 'and':
      return `(${e.children.map(expr).join(' && ')})`
    case 'not':
      return `!${expr(e.child)}`
    case 'includes':
      return `this.related.${name(e.relation, 'relation')}.includes(ctx.subject)`
    case 'permits':
      return `this.permits.${name(e.permission, 'permission')}(ctx)`
    case 'traverse':
      return `this.related.${name(e.relation, 'relation')}.traverse((p) => p.permits.${name(e.permission, 'permission')}(ctx))`
  }
}

/** OPL source for the namespaces; pass it as the plugin's `namespaces`. */
export function defineNamespaces<N extends string>(spec: { [K in N]: NamespaceSpec<N> }): string {
  const out: string[] = []
  for (const [ns, def] of Object.entries(spec) as [N, NamespaceSpec<N>][]) {
    const lines = [`class ${name(ns, 'namespace')} implements Namespace {`]
    const related = Object.entries(def.related ?? {})
    if (related.length) {
      lines.push('  related: {')
      for (const [rel, types] of related) {
        const t = types.map((x) => (typeof x === 'string' ? name(x, 'namespace') : `SubjectSet<${name(x.namespace, 'namespace')}, ${JSON.stringify(x.relation)}>`))
        lines.push(`    ${name(rel, 'relation')}: (${t.join(' | ')})[]`)
      }
      lines.push('  }')
    }
    const perms = Object.entries(def.permits ?? {})
    if (perms.length) {
      lines.push('  permits = {')
      for (const [p, e] of perms) lines.push(`    ${name(p, 'permission')}: (ctx: Context): boolean => ${expr(e)},`)
      lines.push('  }')
    }
    lines.push('}')
    out.push(lines.join('\n'))
  }
  return out.join('\n\n')
}
