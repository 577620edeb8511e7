/**
 * An in-process browser for OAuth2 logins through the identity plugin: `send` hands a request to the public app
 * with the cookie jar and keeps what it sets, `form` posts a url-encoded form, `admin` posts JSON to the admin app.
 * Shared by plugins/oauth2/acr-amr.test.ts, plugins/oauth2/logout-identity.test.ts and plugins/ui/oauth2-pages.test.ts.
 */
import type { TestApps } from './app.ts'

/** `apps` is read on each call, so the browser may be made before the apps are booted. */
export function inProcessBrowser(apps: () => TestApps, base: string) {
  const jar = new Map<string, string>()
  const send = async (url: string, init: RequestInit = {}) => {
    const res = await apps().public.handle(new Request(new URL(url, base), { ...init, headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } }))
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';')
      const i = pair!.indexOf('=')
      jar.set(pair!.slice(0, i), pair!.slice(i + 1))
    }
    return res
  }
  const form = (url: string, body: Record<string, string>) => send(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) })
  const admin = async (path: string, body: unknown) => (await apps().admin.handle(new Request(`http://admin${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))).json() as Promise<any>
  return { jar, send, form, admin }
}
