/**
 * Tessera as a dependency of another project: a tiny app in a temp directory outside the repository, with its
 * own package.json, that reaches Tessera only through the public entry points (`tessera`, `tessera/elysia`,
 * `tessera/testing`, `tessera/plugins/*`). Offline: node_modules/tessera is a link to this package and the
 * app's other dependencies are links into this repository's node_modules, as `bun install` of a `file:`
 * dependency would lay them out. The app is type-checked, then run as a real process and asked over HTTP.
 */
import { afterAll, describe, expect, it } from 'bun:test'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

const ROOT = join(import.meta.dir, '..')

const APP = `import { Elysia } from 'elysia'
import * as v from 'valibot'
import { type PluginContext, defineConfig, definePlugin } from 'tessera'
import { tessera } from 'tessera/elysia'
import { identity } from 'tessera/plugins/identity'
import { password } from 'tessera/plugins/password'

const greeter = definePlugin({
  id: 'greeter',
  options: v.object({ greeting: v.optional(v.string(), 'hello') }),
  state: () => ({ greeted: 0 }),
  routes: {
    public: (app, ctx: PluginContext<{ greeting: string }, { greeted: number }>) =>
      app.get('/greet', ({ tessera }) => ({ text: ctx.options.greeting, count: ++ctx.state.greeted, base: tessera.publicBaseUrl })),
  },
})

const schema = { type: 'object', properties: { traits: { type: 'object', properties: { email: { type: 'string', format: 'email', 'ory.sh/kratos': { credentials: { password: { identifier: true } } } } }, required: ['email'] } } }

const auth = await tessera(
  defineConfig({
    dsn: 'sqlite::memory:',
    secrets: { system: ['an-external-app-secret-0123456789'] },
    log: { level: 'error' },
    plugins: [greeter({ greeting: 'hi from outside' }), identity({ schemas: [{ id: 'person', schema }] }), password({ breachCheck: { enabled: false } })],
  }),
  { migrate: true, env: {} },
)
const app = new Elysia()
  .use(auth)
  .get('/me', ({ subject }) => ({ subject: subject?.id ?? null }), { subject: true })
  .listen({ hostname: '127.0.0.1', port: 0 })
console.log(\`listening \${app.server!.port}\`)
`

const TEST = `import { expect, it } from 'bun:test'
import { definePlugin } from 'tessera'
import { basicHandlers, testApp } from 'tessera/testing'

it('boots with the test kit', async () => {
  const app = await testApp([definePlugin({ id: 'x', routes: { admin: (a) => a.get('/admin/x', () => 'x') } })(), basicHandlers()], { database: 'sqlite' })
  expect((await app.admin.get('/admin/x')).text).toBe('x')
  await app.stop()
})
`

describe('an app outside the repository that depends on tessera', () => {
  let dir = ''
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('type-checks against the public entry points and answers a request', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-external-'))
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'external-app', private: true, type: 'module', dependencies: { tessera: `file:${ROOT}`, elysia: '*', valibot: '*' }, devDependencies: { '@types/bun': '*' } }, null, 2),
    )
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'Preserve', moduleResolution: 'bundler', lib: ['ES2023', 'DOM', 'DOM.Iterable'], types: ['bun'],
          strict: true, skipLibCheck: true, noEmit: true, allowImportingTsExtensions: true, verbatimModuleSyntax: true, resolveJsonModule: true, isolatedModules: true,
        },
        include: ['*.ts'],
      }),
    )
    await writeFile(join(dir, 'app.ts'), APP)
    await writeFile(join(dir, 'app.test.ts'), TEST)
    const link = async (name: string, target: string) => {
      await mkdir(dirname(join(dir, 'node_modules', name)), { recursive: true })
      await symlink(target, join(dir, 'node_modules', name), 'dir')
    }
    await link('tessera', ROOT)
    for (const dep of ['elysia', 'valibot', '@types/bun', 'bun-types']) await link(dep, join(ROOT, 'node_modules', dep))

    const tsc = Bun.spawn([join(ROOT, 'node_modules/.bin/tsc'), '--noEmit', '-p', join(dir, 'tsconfig.json')], { cwd: dir, stdout: 'pipe', stderr: 'pipe' })
    const tscOut = (await new Response(tsc.stdout).text()) + (await new Response(tsc.stderr).text())
    await tsc.exited
    expect(tscOut.trim()).toBe('')
    expect(tsc.exitCode).toBe(0)

    const server = Bun.spawn(['bun', 'app.ts'], { cwd: dir, stdout: 'pipe', stderr: 'pipe', env: { ...process.env, NODE_ENV: 'production' } })
    try {
      const reader = server.stdout.getReader()
      let seen = ''
      let port = 0
      while (!port) {
        const { value, done } = await reader.read()
        if (done) throw new Error(`the app exited: ${seen}${await new Response(server.stderr).text()}`)
        seen += new TextDecoder().decode(value)
        port = Number(/listening (\d+)/.exec(seen)?.[1] ?? 0)
      }
      const greet = await fetch(`http://127.0.0.1:${port}/greet`)
      expect(await greet.json()).toEqual({ text: 'hi from outside', count: 1, base: `http://127.0.0.1:${port}` })
      const flow = await (await fetch(`http://127.0.0.1:${port}/self-service/registration/api`)).json()
      expect(flow.ui.action).toBe(`http://127.0.0.1:${port}/self-service/registration?flow=${flow.id}`)
      expect(await (await fetch(`http://127.0.0.1:${port}/me`)).json()).toEqual({ subject: null })
    } finally {
      server.kill()
      await server.exited
    }

    const test = Bun.spawn(['bun', 'test', 'app.test.ts'], { cwd: dir, stdout: 'pipe', stderr: 'pipe', env: { ...process.env, TESSERA_TEST_POSTGRES_URL: '' } })
    const testOut = (await new Response(test.stdout).text()) + (await new Response(test.stderr).text())
    expect(await test.exited, testOut).toBe(0)
    expect(testOut).toContain('1 pass')
  }, 120_000)
})
