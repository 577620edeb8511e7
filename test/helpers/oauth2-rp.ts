/**
 * A relying party's browser against real `tessera serve` processes, with an external (Hydra-style) login and
 * consent app driven through Hydra's SDK on the admin listener: a cookie jar, manual redirects, and `route` to
 * send a URL of the shared public base URL to whichever process the test wants to reach.
 */
import { Configuration, JwkApi, OAuth2Api } from '@ory/client-fetch'

export const sdk = (adminUrl: string) => {
  const config = new Configuration({ basePath: adminUrl })
  return { oauth2: new OAuth2Api(config), jwk: new JwkApi(config) }
}

export function cookieJar() {
  const jar = new Map<string, string>()
  return {
    jar,
    async get(url: string): Promise<Response> {
      const res = await fetch(url, { redirect: 'manual', headers: jar.size ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {} })
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';')
        const i = pair!.indexOf('=')
        jar.set(pair!.slice(0, i), pair!.slice(i + 1))
      }
      return res
    },
  }
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

/** The token endpoint of one process. */
export async function tokenAt(publicUrl: string, client: { id: string; secret: string }, form: Record<string, string>) {
  const res = await fetch(`${publicUrl}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.id, client.secret) }, body: new URLSearchParams(form) })
  return { status: res.status, json: (await res.json()) as Record<string, any> }
}

/**
 * /oauth2/auth through login and consent to the code. `steps` names the process (public URL, admin SDK) each
 * step runs at: the authorization request, the login, the consent and the final redirect.
 */
export async function authorizeCode(opts: {
  base: string
  steps: { auth: string; login: { url: string; api: OAuth2Api }; consent: { url: string; api: OAuth2Api }; finish: string }
  params: Record<string, string>
  subject: string
}): Promise<string> {
  const b = cookieJar()
  const at = (processUrl: string, url: string) => url.replace(opts.base, processUrl)
  let res = await b.get(`${opts.steps.auth}/oauth2/auth?${new URLSearchParams(opts.params)}`)
  const loginChallenge = new URL(res.headers.get('location')!).searchParams.get('login_challenge')
  if (!loginChallenge) throw new Error(`no login challenge: ${res.status} ${res.headers.get('location')}`)
  const accepted = await opts.steps.login.api.acceptOAuth2LoginRequest({ loginChallenge, acceptOAuth2LoginRequest: { subject: opts.subject } })
  res = await b.get(at(opts.steps.login.url, accepted.redirect_to))
  const consentChallenge = new URL(res.headers.get('location')!).searchParams.get('consent_challenge')
  if (!consentChallenge) throw new Error(`no consent challenge: ${res.status} ${res.headers.get('location')}`)
  const cr = await opts.steps.consent.api.getOAuth2ConsentRequest({ consentChallenge })
  const done = await opts.steps.consent.api.acceptOAuth2ConsentRequest({ consentChallenge, acceptOAuth2ConsentRequest: { grant_scope: cr.requested_scope, grant_access_token_audience: cr.requested_access_token_audience } })
  res = await b.get(at(opts.steps.finish, done.redirect_to))
  const code = new URL(res.headers.get('location')!).searchParams.get('code')
  if (!code) throw new Error(`no code: ${res.status} ${res.headers.get('location')}`)
  return code
}
