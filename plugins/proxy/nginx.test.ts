/**
 * End to end with real nginx (Debian's package): nginx `auth_request` to Tessera's `/decisions`
 * in front of a real upstream, and nginx in front of the proxy's reverse-proxy listener.
 * Skipped, with a message, when nginx is not installed (`apt-get install nginx-light`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { serve, type RunningServer } from '../../server/index.ts'
import type { Kernel } from '../../core/kernel/kernel.ts'
import { bootKernel } from '../../test/helpers/app.ts'
import { proxy, proxyState } from './index.ts'
import { type TestServer, startServer } from './test-helpers.ts'

const NGINX = Bun.which('nginx') ?? (Bun.file('/usr/sbin/nginx').size > 0 ? '/usr/sbin/nginx' : null)
if (!NGINX) console.log('[skipped] nginx e2e: nginx is not installed (apt-get install nginx-light)')

function freePort(): number {
  const s = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
  const p = s.port as number
  s.stop(true)
  return p
}

describe.skipIf(!NGINX)('proxy with real nginx', () => {
  let dir: string
  let upstream: TestServer
  let kernel: Kernel
  let server: RunningServer
  let nginx: Subprocess
  let port: number
  let viaProxyPort: number

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-nginx-'))
    upstream = startServer((req) => Response.json({ path: new URL(req.url).pathname, user: req.headers.get('x-user') }))
    const rule = (id: string, path: string, authorizer: string) => ({
      id,
      match: { url: `http://<[^/]+>${path}<.*>`, methods: ['GET', 'POST'] },
      authenticators: [{ handler: 'anonymous' }],
      authorizer: { handler: authorizer },
      mutators: [{ handler: 'header', config: { headers: { 'X-User': '{{ print .Subject }}' } } }],
      upstream: { url: upstream.url },
    })
    kernel = await bootKernel(
      [proxy({ rules: [rule('public', '/public', 'allow'), rule('admin', '/admin', 'deny')], serve: { enabled: true, host: '127.0.0.1', port: 0 } })],
      { start: false, config: { serve: { public: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } } } as never },
    )
    server = await serve(kernel)
    const adminPort = new URL(server.adminUrl as string).port
    const ctx = kernel.plugins.find((p) => p.id === 'proxy')?.ctx as object
    const proxyPort = proxyState(ctx).server?.port
    port = freePort()
    viaProxyPort = freePort()
    for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'logs']) mkdirSync(join(dir, d), { recursive: true })
    writeFileSync(
      join(dir, 'nginx.conf'),
      `${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / {
      auth_request /_tessera;
      auth_request_set $tessera_user $upstream_http_x_user;
      proxy_set_header X-User $tessera_user;
      proxy_pass http://127.0.0.1:${new URL(upstream.url).port};
    }
    location = /_tessera {
      internal;
      proxy_pass http://127.0.0.1:${adminPort}/decisions$request_uri;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Host $host;
    }
  }
  server {
    listen 127.0.0.1:${viaProxyPort};
    location / { proxy_pass http://127.0.0.1:${proxyPort}; proxy_set_header Host $host; }
  }
}
`,
    )
    nginx = Bun.spawn([NGINX as string, '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdout: 'ignore', stderr: 'pipe' })
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      if (await fetch(`http://127.0.0.1:${port}/public/`).then(() => true, () => false)) break
      await Bun.sleep(50)
    }
  })

  afterAll(async () => {
    nginx?.kill('SIGQUIT')
    await Promise.race([nginx?.exited, Bun.sleep(3000)])
    nginx?.kill('SIGKILL')
    await server?.stop()
    await upstream?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('auth_request to /decisions: allowed requests reach the upstream with X-User; denied ones get 403', async () => {
    const ok = await fetch(`http://127.0.0.1:${port}/public/hello`, { headers: { 'x-user': 'admin' } })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ path: '/public/hello', user: 'anonymous' })
    expect((await fetch(`http://127.0.0.1:${port}/admin/secrets`)).status).toBe(403)
  })

  it('Oathkeeper CVE-2026-33494 through nginx: /public/..%2fadmin is decided as /admin', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/public/..%2fadmin/secrets`)
    expect(r.status).toBe(403)
  })

  it('nginx in front of the reverse-proxy listener: allowed forwarded, denied refused', async () => {
    const ok = await fetch(`http://127.0.0.1:${viaProxyPort}/public/x`)
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ path: '/public/x', user: 'anonymous' })
    expect((await fetch(`http://127.0.0.1:${viaProxyPort}/admin`)).status).toBe(403)
  })
})
