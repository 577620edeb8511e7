/**
 * The single binary: `bun build --compile` (what `bun run build` runs) makes a
 * standalone executable that serves with a YAML config and reports ready.
 */
import { afterAll, describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import { REPO, SECRET, scratchDir, startServer } from './helpers/process.ts'

const scratch = scratchDir('binary')
afterAll(() => scratch.remove())

describe('single binary', () => {
  it('builds, starts with a config file and answers /health/ready with 200', async () => {
    const out = join(scratch.dir, 'tessera')
    const pkg = await Bun.file(join(REPO, 'package.json')).json()
    // the same command as `bun run build`, with another output path
    const buildCmd = (pkg.scripts.build as string).replace('--outfile dist/tessera', `--outfile ${out}`).split(' ')
    const build = Bun.spawnSync(buildCmd, { cwd: REPO, stdout: 'pipe', stderr: 'pipe' })
    expect(build.exitCode).toBe(0)

    const config = scratch.write('tessera.yaml', `dsn: "sqlite://${scratch.dir}/bin.sqlite"\nserve:\n  public: { port: 0 }\n  admin: { port: 0 }\nmigrations: { auto: true }\n`)
    // run from a directory with no node_modules: the binary needs nothing beside it
    const server = await startServer([out, 'serve', '--config', config], { cwd: scratch.dir, env: { SECRETS_SYSTEM: SECRET } })
    try {
      const ready = await fetch(`${server.publicUrl}/health/ready`)
      expect(ready.status).toBe(200)
      expect(await ready.json()).toEqual({ status: 'ok' })
      expect((await (await fetch(`${server.adminUrl}/version`)).json()).version).toBe(`v${pkg.version}`)
    } finally {
      expect(await server.stop()).toBe(0)
    }
    const version = Bun.spawnSync([out, 'version'], { cwd: scratch.dir })
    expect(version.stdout.toString()).toBe(`tessera v${pkg.version}\n`)
  }, 60_000)
})
