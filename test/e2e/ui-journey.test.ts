/**
 * The same journey as identity-journey.test.ts without a browser: a cookie jar
 * and manual redirects over real sockets, submitting the HTML forms the minimal
 * UI renders. Checks the UI and the browser flows whenever Chromium is missing.
 */
import { describe, expect, it } from 'bun:test'
import { useJourneyStack } from './ui.ts'

describe('browser journey without a browser (cookie jar, HTML forms)', () => {
  const stack = useJourneyStack()

  it('registers, sees whoami, logs out and logs in again through the rendered forms', async () => {
    const jar = new Map<string, string>()
    const go = async (url: string, init: RequestInit = {}): Promise<{ url: string; html: string }> => {
      for (let hops = 0; hops < 10; hops++) {
        const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } })
        for (const c of res.headers.getSetCookie()) {
          const [kv, ...attrs] = c.split(';')
          const [k, v] = kv!.split('=') as [string, string]
          if (attrs.some((a) => /max-age=0/i.test(a.trim()))) jar.delete(k)
          else jar.set(k, v)
        }
        if (res.status !== 303 && res.status !== 302) return { url, html: await res.text() }
        url = new URL(res.headers.get('location')!, url).toString()
        init = {}
      }
      throw new Error('too many redirects')
    }
    const submit = (page: { html: string }, values: Record<string, string>) => {
      const action = /<form action="([^"]+)"/.exec(page.html)![1]!.replaceAll('&#38;', '&')
      const form = new URLSearchParams()
      for (const m of page.html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) form.set(m[1]!, m[2]!)
      for (const [k, v] of Object.entries(values)) form.set(k, v)
      form.set('method', 'password')
      return go(action, { method: 'POST', body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    }

    const reg = await go(`${stack.api}/self-service/registration/browser`)
    expect(reg.html).toContain('name="traits.email"')
    const home = await submit(reg, { 'traits.email': 'journey@example.com', password: 'correct horse battery staple' })
    expect(home.html).toContain('<p id="who">journey@example.com</p>')

    const logoutUrl = /<a id="logout" href="([^"]+)"/.exec(home.html)![1]!.replaceAll('&#38;', '&')
    expect((await go(logoutUrl)).html).toContain('<p id="who">anonymous</p>')

    const login = await go(`${stack.api}/self-service/login/browser`)
    const wrong = await submit(login, { identifier: 'journey@example.com', password: 'wrong password here' })
    expect(wrong.html).toContain('data-id="4000006"')
    const back = await submit(wrong, { identifier: 'journey@example.com', password: 'correct horse battery staple' })
    expect(back.html).toContain('<p id="who">journey@example.com</p>')
  })
})
