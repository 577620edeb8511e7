import { describe, expect, it } from 'bun:test'
import { runCli } from './index.ts'
import { definePlugin } from '../core/plugin.ts'

const io = () => {
  const out: string[] = []
  const err: string[] = []
  return { out, err, io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s), env: {}, cwd: process.cwd() } }
}

const greeter = definePlugin({
  id: 'greeter',
  commands: {
    greet: {
      summary: 'say hello',
      usage: 'Usage: tessera greet <name>',
      run: async (args, ctx) => {
        if (!args[0]) throw new Error('greet needs a name')
        ctx.out(`hello ${args[0]}`)
        return 0
      },
    },
  },
})

describe('CLI commands contributed by plugins', () => {
  it('lists them in help and runs them with their arguments', async () => {
    const a = io()
    expect(await runCli(['help'], { greeter }, a.io)).toBe(0)
    expect(a.out.join('\n')).toContain('Plugin commands:\n  greet            say hello')
    const b = io()
    expect(await runCli(['greet', 'ada'], { greeter }, b.io)).toBe(0)
    expect(b.out).toEqual(['hello ada'])
    const c = io()
    expect(await runCli(['greet', '--help'], { greeter }, c.io)).toBe(0)
    expect(c.out).toEqual(['Usage: tessera greet <name>'])
  })

  it('turns a failure into one line and exit code 1', async () => {
    const a = io()
    expect(await runCli(['greet'], { greeter }, a.io)).toBe(1)
    expect(a.err).toEqual(['tessera: greet needs a name'])
  })
})
