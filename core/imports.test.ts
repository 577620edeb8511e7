/**
 * The core's files depend on each other one way: no import cycle, type-only imports included
 * (contracts depend on nothing above them; the kernel and server sit on top), and on nothing outside core/
 * (the entry points, drivers and plugins are built on the core, never the reverse).
 */
import { describe, expect, it } from 'bun:test'
import { readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const CORE = import.meta.dir
const SPECIFIER = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g

/** Every core file's relative imports (static, type-only, re-exports and `import('…')` types), as core-relative paths. */
function importGraph(): Map<string, string[]> {
  const files = [...new Bun.Glob('**/*.ts').scanSync(CORE)].filter((f) => !f.endsWith('.test.ts'))
  const graph = new Map<string, string[]>()
  for (const file of files) {
    const text = readFileSync(join(CORE, file), 'utf8')
    const deps: string[] = []
    for (const m of text.matchAll(SPECIFIER)) {
      const spec = m[1] ?? m[2] ?? m[3]
      if (spec?.startsWith('.')) deps.push(relative(CORE, resolve(CORE, dirname(file), spec)))
    }
    graph.set(file, deps)
  }
  return graph
}

/** Every cycle found by a depth-first walk, each as `a -> b -> a`. */
function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const stack: string[] = []
  const visit = (file: string) => {
    if (state.get(file) === 'done') return
    if (state.get(file) === 'visiting') {
      found.push([...stack.slice(stack.indexOf(file)), file].join(' -> '))
      return
    }
    state.set(file, 'visiting')
    stack.push(file)
    for (const dep of graph.get(file) ?? []) visit(dep)
    stack.pop()
    state.set(file, 'done')
  }
  for (const file of [...graph.keys()].sort()) visit(file)
  return found
}

describe('core imports', () => {
  it('sees every kind of import statement', () => {
    const graph = importGraph()
    expect(graph.get('index.ts')).toContain('plugin.ts') // export … from
    expect(graph.get('kernel/kernel.ts')).toContain('storage/scoped.ts') // import { … } from
    expect(graph.get('http/context.ts')).toContain('logger.ts') // import type
    expect(graph.size).toBeGreaterThan(30)
  })

  it('has no import cycle inside core/, type-only imports included', () => {
    expect(cycles(importGraph())).toEqual([])
  })

  it('imports nothing from outside core/ but the package manifest (tests aside)', () => {
    const outside = [...importGraph()].flatMap(([file, deps]) =>
      deps.filter((d) => d.startsWith('..') && d !== '../package.json').map((d) => `${file} -> ${d}`),
    )
    expect(outside).toEqual([])
  })
})
