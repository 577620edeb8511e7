/**
 * Ordering plugins: duplicates refused, missing and cyclic dependencies named,
 * and otherwise the config order kept wherever dependencies allow it.
 */
import { PluginError } from '../errors.ts'

export interface OrderNode {
  id: string
  dependsOn: readonly string[]
  after: readonly string[]
}

function checkDuplicates(nodes: readonly { id: string }[]): void {
  const seen = new Map<string, number>()
  nodes.forEach((n, i) => {
    const first = seen.get(n.id)
    if (first !== undefined) {
      throw new PluginError(
        'ERR_DUPLICATE_PLUGIN',
        `plugin \`${n.id}\` appears twice in plugins (plugins[${first}] and plugins[${i}]); keep one`,
      )
    }
    seen.set(n.id, i)
  })
}

/** Returns the nodes in an order where every plugin comes after what it depends on. */
export function orderPlugins<T extends OrderNode>(nodes: readonly T[]): T[] {
  checkDuplicates(nodes)
  const byId = new Map(nodes.map((n) => [n.id, n]))
  const missing: string[] = []
  for (const n of nodes) {
    for (const d of n.dependsOn) {
      if (!byId.has(d)) missing.push(`plugin \`${n.id}\` depends on \`${d}\`, which is not in plugins; add ${d}() to plugins`)
    }
  }
  if (missing.length) throw new PluginError('ERR_MISSING_DEPENDENCY', missing.join('; '))

  const edges = new Map<string, string[]>() // id -> what must come before it
  for (const n of nodes) edges.set(n.id, [...n.dependsOn, ...n.after.filter((a) => byId.has(a))])

  const cycle = findCycle(nodes.map((n) => n.id), edges)
  if (cycle) {
    throw new PluginError(
      'ERR_DEPENDENCY_CYCLE',
      `plugins depend on each other in a cycle (each depends on the next): ${cycle.map((c) => `\`${c}\``).join(' -> ')}`,
    )
  }

  // Kahn's algorithm, always taking the earliest ready plugin in config order.
  const index = new Map(nodes.map((n, i) => [n.id, i]))
  const remaining = new Map(nodes.map((n) => [n.id, new Set(edges.get(n.id))]))
  const out: T[] = []
  while (remaining.size > 0) {
    let next: string | undefined
    for (const [id, deps] of remaining) {
      if (deps.size === 0 && (next === undefined || index.get(id)! < index.get(next)!)) next = id
    }
    if (next === undefined) throw new PluginError('ERR_DEPENDENCY_CYCLE', 'plugins depend on each other in a cycle')
    remaining.delete(next)
    for (const deps of remaining.values()) deps.delete(next)
    out.push(byId.get(next)!)
  }
  return out
}

function findCycle(ids: string[], edges: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'visiting' | 'done'>()
  const stack: string[] = []
  const visit = (id: string): string[] | null => {
    const s = state.get(id)
    if (s === 'done') return null
    if (s === 'visiting') return [...stack.slice(stack.indexOf(id)), id]
    state.set(id, 'visiting')
    stack.push(id)
    for (const d of edges.get(id) ?? []) {
      const c = visit(d)
      if (c) return c
    }
    stack.pop()
    state.set(id, 'done')
    return null
  }
  for (const id of ids) {
    const c = visit(id)
    if (c) return c
  }
  return null
}
