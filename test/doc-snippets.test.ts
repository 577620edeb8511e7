/**
 * Every ```ts snippet in docs/*.md and docs/plugins/*.md compiles as written against the public entry points
 * (`tessera`, `tessera/elysia`, `tessera/testing`, `tessera/plugins/*`), so the docs' examples can be pasted.
 * A snippet is checked as if it sat at the repository root (`./tessera.config`, `./examples/…` resolve there);
 * one that is deliberately a fragment says so with a `// partial` line and is skipped.
 */
import { describe, expect, it } from 'bun:test'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'

const ROOT = join(import.meta.dir, '..')

async function markdownFiles(): Promise<string[]> {
  const out: string[] = []
  for (const dir of ['docs', 'docs/plugins']) {
    for (const f of await readdir(join(ROOT, dir))) if (f.endsWith('.md')) out.push(join(dir, f))
  }
  return out.sort()
}

interface Snippet {
  file: string
  line: number
  code: string
}

export function extractSnippets(file: string, text: string): Snippet[] {
  const out: Snippet[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ts\s*$/.test(lines[i]!)) continue
    const start = i + 1
    let end = start
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++
    out.push({ file, line: start + 1, code: lines.slice(start, end).join('\n') })
    i = end
  }
  return out
}

describe('docs snippets', () => {
  it('finds the snippets it checks', async () => {
    const all = (await Promise.all((await markdownFiles()).map(async (f) => extractSnippets(f, await readFile(join(ROOT, f), 'utf8'))))).flat()
    expect(all.filter((s) => !/^\s*\/\/ partial\b/m.test(s.code)).length).toBeGreaterThan(10)
  })

  it('type-check as written against the public entry points', async () => {
    const snippets = (await Promise.all((await markdownFiles()).map(async (f) => extractSnippets(f, await readFile(join(ROOT, f), 'utf8')))))
      .flat()
      .filter((s) => !/^\s*\/\/ partial\b/m.test(s.code))
    // Inside the repository (its ignored .tmp/), so that `tessera` resolves to this package by its own name.
    await mkdir(join(ROOT, '.tmp'), { recursive: true })
    const dir = await mkdtemp(join(ROOT, '.tmp', 'doc-snippets-'))
    try {
      const names: Record<string, Snippet> = {}
      for (const [i, s] of snippets.entries()) {
        const name = `${s.file.replace(/[^A-Za-z0-9]+/g, '_')}_L${s.line}_${i}.ts`
        names[name] = s
        // each snippet is its own module
        const atRoot = s.code.replace(/(from\s+|import\s*\(\s*)(['"])\.\//g, `$1$2${relative(dir, ROOT)}/`)
        await writeFile(join(dir, name), `${atRoot}\nexport {}\n`)
      }
      await writeFile(
        join(dir, 'tsconfig.json'),
        JSON.stringify({ extends: relative(dir, join(ROOT, 'tsconfig.json')), compilerOptions: { noUnusedLocals: false }, include: ['*.ts'] }),
      )
      const proc = Bun.spawn([join(ROOT, 'node_modules/.bin/tsc'), '--noEmit', '-p', join(dir, 'tsconfig.json')], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
      const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text())
      await proc.exited
      // name the doc and line of each failing snippet
      const report = out.replace(/[^\s(]*?([A-Za-z0-9_]+_L(\d+)_\d+\.ts)\((\d+),(\d+)\)/g, (_m, name: string, _l, line: string) => {
        const s = names[name]
        return s ? `${s.file}:${s.line + Number(line) - 1}` : name
      })
      expect(report.trim()).toBe('')
      expect(proc.exitCode).toBe(0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
