/**
 * A port already in use: `tessera serve` stops with one line and exit code 1 instead of starting and quietly
 * sharing the port (Bun sets SO_REUSEPORT unless told not to), on every listener; port sharing is there when
 * the operator asks for it. Real processes, as an operator runs them.
 */
import { afterAll, describe, expect, it } from 'bun:test'
import { CLI, SECRET, type ServerProcess, runCli, scratchDir, startServer } from './helpers/process.ts'

const scratch = scratchDir('listen')
afterAll(() => scratch.remove())
const env = { SECRETS_SYSTEM: SECRET }

function config(serve: string, plugins = '') {
  return scratch.write(
    `c-${crypto.randomUUID()}.yaml`,
    `dsn: "sqlite://${scratch.dir}/${crypto.randomUUID()}.sqlite"
serve:
${serve}
migrations: { auto: true }
${plugins}`,
  )
}

const portOf = (url: string) => Number(new URL(url).port)

/** A port taken by a plain socket of this process (not shared: no SO_REUSEPORT). */
function occupy() {
  const server = Bun.serve({ hostname: '127.0.0.1', port: 0, reusePort: false, fetch: () => new Response('taken') })
  return { port: server.port as number, release: () => server.stop(true) }
}

describe('tessera serve on a port already in use', () => {
  it('a second server on the public port exits 1 with one line naming the port', async () => {
    const first = await startServer(['bun', CLI, 'serve', '--config', config('  public: { host: 127.0.0.1, port: 0 }\n  admin: { port: 0 }')], { env })
    try {
      const port = portOf(first.publicUrl)
      const r = await runCli(['serve', '--config', config(`  public: { host: 127.0.0.1, port: ${port} }\n  admin: { port: 0 }`)], { env })
      expect(r.stderr).toBe(`tessera: port ${port} is already in use\n`)
      expect(r.code).toBe(1)
      // the first server still has the port, alone
      expect((await fetch(`${first.publicUrl}/health/alive`)).status).toBe(200)
    } finally {
      await first.stop()
    }
  })

  it('a second server on the admin port exits 1 with one line naming the admin port', async () => {
    const first = await startServer(['bun', CLI, 'serve', '--config', config('  public: { host: 127.0.0.1, port: 0 }\n  admin: { port: 0 }')], { env })
    try {
      const port = portOf(first.adminUrl!)
      const r = await runCli(['serve', '--config', config(`  public: { host: 127.0.0.1, port: 0 }\n  admin: { port: ${port} }`)], { env })
      expect(r.stderr).toBe(`tessera: port ${port} is already in use\n`)
      expect(r.code).toBe(1)
    } finally {
      await first.stop()
    }
  })

  it("the proxy's reverse-proxy and /decisions listeners fail the same way", async () => {
    const taken = occupy()
    try {
      for (const listener of ['serve', 'decisions_listener']) {
        const other = listener === 'serve' ? 'decisions_listener: { enabled: false }' : 'serve: { enabled: false }'
        const plugins = `plugins:\n  - use: proxy\n    options: { ${listener}: { enabled: true, host: 127.0.0.1, port: ${taken.port} }, ${other} }\n`
        const r = await runCli(['serve', '--config', config('  public: { host: 127.0.0.1, port: 0 }\n  admin: { port: 0 }', plugins)], { env })
        expect(r.stderr).toBe(`tessera: port ${taken.port} is already in use\n`)
        expect(r.code).toBe(1)
      }
    } finally {
      taken.release()
    }
  })

  it('with reusePort set on both, two servers share the port and both answer', async () => {
    const servers: ServerProcess[] = []
    try {
      servers.push(await startServer(['bun', CLI, 'serve', '--config', config('  public: { host: 127.0.0.1, port: 0, reusePort: true }\n  admin: { enabled: false }')], { env }))
      const port = portOf(servers[0]!.publicUrl)
      servers.push(
        await startServer(['bun', CLI, 'serve', '--config', config(`  public: { host: 127.0.0.1, port: ${port}, reusePort: true }\n  admin: { enabled: false }`)], { env }),
      )
      expect(portOf(servers[1]!.publicUrl)).toBe(port)
      expect((await fetch(`http://127.0.0.1:${port}/health/alive`)).status).toBe(200)
      // once the first is gone, the second alone still serves the port
      expect(await servers[0]!.stop()).toBe(0)
      expect((await fetch(`http://127.0.0.1:${port}/health/alive`)).status).toBe(200)
    } finally {
      for (const s of servers) await s.stop()
    }
  })

  it('a server that asks for sharing still cannot take a port held without it', async () => {
    const taken = occupy()
    try {
      const r = await runCli(['serve', '--config', config(`  public: { host: 127.0.0.1, port: ${taken.port}, reusePort: true }\n  admin: { port: 0 }`)], { env })
      expect(r.stderr).toBe(`tessera: port ${taken.port} is already in use\n`)
      expect(r.code).toBe(1)
    } finally {
      taken.release()
    }
  })
})
