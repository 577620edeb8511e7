/**
 * The ui plugin under a real `tessera serve` whose public listener is on port 0 with no `serve.public.baseUrl`:
 * the pages read the public API in-process, so they answer (no call to `http://localhost:0`) and their links
 * point at the port the server really listens on (issue 15).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import { REPO, SECRET, type ServerProcess, scratchDir, startServer } from './helpers/process.ts'
import { quickstartSchema } from './helpers/identity.ts'

describe('ui on a public listener at port 0 without a base URL', () => {
  let server: ServerProcess
  let scratch: ReturnType<typeof scratchDir>

  beforeAll(async () => {
    scratch = scratchDir('ui-port0')
    const config = {
      dsn: 'sqlite://tessera.sqlite',
      serve: { public: { port: 0, host: '127.0.0.1' }, admin: { enabled: false } },
      plugins: [
        { use: 'identity', options: { schemas: [{ id: 'default', schema: quickstartSchema }], flowRateLimit: { enabled: false } } },
        { use: 'password', options: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } } },
        { use: 'ui' },
      ],
    }
    const cfg = scratch.write('tessera.json', JSON.stringify(config))
    server = await startServer(['bun', join(REPO, 'bin/tessera.ts'), 'serve', '--migrate', '--config', cfg], { cwd: scratch.dir, env: { SECRETS_SYSTEM: SECRET } })
  }, 30_000)

  afterAll(async () => {
    await server?.stop()
    scratch?.remove()
  })

  it('renders the home page and sends the browser to the real port', async () => {
    expect(server.publicUrl).toMatch(/^http:\/\/127\.0\.0\.1:[1-9][0-9]*$/)
    const home = await fetch(`${server.publicUrl}/ui/`, { redirect: 'manual', headers: { 'x-request-id': 'ui-port0-home' } })
    expect(home.status).toBe(200)
    const html = await home.text()
    expect(html).toContain(`${server.publicUrl}/ui`)
    expect(html).not.toContain('localhost:0')

    const start = await fetch(`${server.publicUrl}/ui/login`, { redirect: 'manual' })
    expect(start.status).toBe(303)
    expect(start.headers.get('location')).toBe(`${server.publicUrl}/self-service/login/browser`)
    // and on from there to the login page, on the same real port
    const init = await fetch(start.headers.get('location')!, { redirect: 'manual' })
    expect(init.status).toBe(303)
    expect(init.headers.get('location')).toMatch(new RegExp(`^${server.publicUrl.replace(/\./g, '\\.')}/ui/login\\?flow=[0-9a-f-]{36}$`))
  })

  it('names the real port in a browser login flow’s redirect and ui.action', async () => {
    const init = await fetch(`${server.publicUrl}/self-service/login/browser`, { redirect: 'manual' })
    expect(init.status).toBe(303)
    const to = new URL(init.headers.get('location')!)
    expect(to.origin).toBe(server.publicUrl)
    expect(to.pathname).toBe('/ui/login')
    const id = to.searchParams.get('flow')!
    const cookie = init.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
    const flow = await fetch(`${server.publicUrl}/self-service/login/flows?id=${id}`, { headers: { cookie } })
    expect(flow.status).toBe(200)
    const body = (await flow.json()) as { ui: { action: string } }
    expect(body.ui.action).toBe(`${server.publicUrl}/self-service/login?flow=${id}`)
    // a browser flow asked for as JSON answers with the same action
    const asJson = await fetch(`${server.publicUrl}/self-service/login/browser`, { headers: { accept: 'application/json' } })
    expect(asJson.status).toBe(200)
    const created = (await asJson.json()) as { id: string; ui: { action: string } }
    expect(created.ui.action).toBe(`${server.publicUrl}/self-service/login?flow=${created.id}`)
  })

  it('renders a login flow read in-process with the browser’s cookies', async () => {
    const init = await fetch(`${server.publicUrl}/self-service/login/browser`, { redirect: 'manual' })
    expect(init.status).toBe(303)
    expect(init.headers.get('location')!.startsWith(`${server.publicUrl}/ui/login?flow=`)).toBe(true)
    const flow = new URL(init.headers.get('location')!).searchParams.get('flow')!
    const cookie = init.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
    const page = await fetch(`${server.publicUrl}/ui/login?flow=${flow}`, { redirect: 'manual', headers: { cookie } })
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain(`${server.publicUrl}/self-service/login?flow=${flow}`)
    expect(html).toContain('name="csrf_token"')
    expect(html).not.toContain('localhost:0')
    // without the flow's CSRF cookie the API refuses the flow, as over HTTP, and the ui shows its error page
    const stranger = await fetch(`${server.publicUrl}/ui/login?flow=${flow}`, { redirect: 'manual' })
    expect(stranger.status).toBe(403)
    expect(await stranger.text()).not.toContain(`/self-service/login?flow=${flow}`)
  })
})
