/**
 * A real `tessera serve` for the ui plugin's browser suites (ui-identity, ui-nojs, ui-oauth2): a free port, a
 * scratch directory with the config as JSON and an SQLite file, development mode with a fixed system secret.
 * `accountPlugins` is the account stack those suites share: identity, password, the courier's outbox, code, totp,
 * lookup-secret, webauthn (the relying party the API's host) and ui.
 */
import { join } from 'node:path'
import { quickstartSchema } from '../helpers/identity.ts'
import { REPO, SECRET, type ServerProcess, scratchDir, startServer } from '../helpers/process.ts'

export interface UiServer {
  server: ServerProcess
  scratch: ReturnType<typeof scratchDir>
  /** The public listener's base URL. */
  api: string
}

/** The account stack at `api` (webauthn's relying party id is its host: a domain, such as `localhost`). */
export const accountPlugins = (api: string, schema: object = quickstartSchema) => [
  { use: 'identity', options: { schemas: [{ id: 'default', schema }], flowRateLimit: { enabled: false } } },
  { use: 'password', options: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } } },
  { use: 'courier', options: { outbox: true, worker: { intervalSeconds: 0.1 } } },
  { use: 'code', options: { resend: { perAddress: 1000 } } },
  { use: 'totp' },
  { use: 'lookup-secret' },
  { use: 'webauthn', options: { rp: { id: new URL(api).hostname, name: 'Tessera', origins: [api] } } },
  { use: 'ui' },
]

/**
 * Start Tessera with `plugins(api)` on a free port, its public base URL on `host` (`localhost` where WebAuthn needs
 * a domain); `bind` sets the listeners' interface (default: Tessera's own).
 */
export async function startUiServer(label: string, o: { host: 'localhost' | '127.0.0.1'; bind?: string; plugins: (api: string) => unknown[] }): Promise<UiServer> {
  const scratch = scratchDir(label)
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port
  probe.stop(true)
  const api = `http://${o.host}:${port}`
  const listen = o.bind ? { host: o.bind } : {}
  const config = {
    dev: true,
    dsn: 'sqlite://tessera.sqlite',
    serve: { public: { ...listen, port, baseUrl: api }, admin: { ...listen, port: 0 } },
    migrations: { auto: true },
    plugins: o.plugins(api),
  }
  const cfg = scratch.write('tessera.json', JSON.stringify(config))
  const server = await startServer(['bun', join(REPO, 'bin/tessera.ts'), 'serve', '--dev', '--migrate', '--config', cfg], { cwd: scratch.dir, env: { SECRETS_SYSTEM: SECRET } })
  return { server, scratch, api }
}
