import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { runCli } from '../../cli/index.ts'
import { bootApps, type TestApps } from '../../test/helpers/app.ts'
import { catalog } from '../catalog.ts'
import { REWRITES_OPL } from './fixtures.ts'
import { permissions } from './index.ts'

const io = (env: Record<string, string> = {}) => {
  const out: string[] = []
  const err: string[] = []
  return { out, err, io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s), env, cwd: process.cwd() } }
}

describe('tessera permissions (CLI against a running server)', () => {
  let apps: TestApps
  let server: ReturnType<typeof Bun.serve>
  let endpoint: string

  beforeAll(async () => {
    apps = await bootApps([permissions({ namespaces: REWRITES_OPL })])
    server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (r) => apps.admin.handle(r) })
    endpoint = `http://127.0.0.1:${server.port}`
  })
  afterAll(async () => {
    server.stop(true)
    await apps.kernel.stop()
  })

  it('writes tuples, checks and expands', async () => {
    const w = io()
    expect(await runCli(['permissions', 'write', 'Group:dev#members@ada', 'Folder:docs#viewers@Group:dev#members', '--endpoint', endpoint], catalog, w.io)).toBe(0)
    expect(w.out).toEqual(['wrote 2 relation tuples'])

    const yes = io({ TESSERA_PERMISSIONS_URL: endpoint })
    expect(await runCli(['permissions', 'check', 'ada', 'view', 'Folder', 'docs'], catalog, yes.io)).toBe(0)
    expect(yes.out).toEqual(['Allowed'])
    const no = io({ TESSERA_PERMISSIONS_URL: endpoint })
    expect(await runCli(['permissions', 'check', 'bob', 'view', 'Folder', 'docs'], catalog, no.io)).toBe(2)
    expect(no.out).toEqual(['Denied'])

    const x = io({ TESSERA_PERMISSIONS_URL: endpoint })
    expect(await runCli(['permissions', 'expand', 'members', 'Group', 'dev'], catalog, x.io)).toBe(0)
    expect(JSON.parse(x.out.join('\n')).children[0].tuple.subject_id).toBe('ada')

    const d = io({ TESSERA_PERMISSIONS_URL: endpoint })
    expect(await runCli(['permissions', 'write', '--delete', 'Group:dev#members@ada'], catalog, d.io)).toBe(0)
    const gone = io({ TESSERA_PERMISSIONS_URL: endpoint })
    expect(await runCli(['permissions', 'check', 'ada', 'view', 'Folder', 'docs'], catalog, gone.io)).toBe(2)
  })

  it('turns bad input and server errors into one line and exit code 1', async () => {
    const a = io({ TESSERA_PERMISSIONS_URL: endpoint })
    expect(await runCli(['permissions', 'write', 'not-a-tuple'], catalog, a.io)).toBe(1)
    expect(a.err[0]).toContain('not a relation tuple')
    const b = io({ TESSERA_PERMISSIONS_URL: endpoint })
    expect(await runCli(['permissions', 'write', 'Nope:x#y@z'], catalog, b.io)).toBe(1)
    expect(b.err[0]).toContain('the server answered 404')
    const c = io()
    expect(await runCli(['permissions', 'check', 'a', 'b', 'c', 'd', '--endpoint', 'http://127.0.0.1:1'], catalog, c.io)).toBe(1)
    expect(c.err[0]).toContain('cannot reach')
    const h = io()
    expect(await runCli(['help', 'permissions'], catalog, h.io)).toBe(0)
    expect(h.out[0]).toContain('tessera permissions check <subject> <relation> <namespace> <object>')
  })
})
