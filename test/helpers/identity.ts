/** Shared test setup (identity, password and end-to-end suites): the identity + password plugins on a given database, a local HIBP-compatible range server. */
import schema from '../../schemas/identity.default.json'
import { bootApps } from './app.ts'
import type { PluginInstance } from '../../core/plugin.ts'
import type { Database } from '../../core/storage/types.ts'
import { password, type PasswordOptions } from '../../plugins/password/index.ts'
import { identity, type IdentityOptionsInput } from '../../plugins/identity/index.ts'

export const quickstartSchema = schema as Record<string, unknown>

export function boot(database: Database | undefined, opts: { identity?: Partial<IdentityOptionsInput>; password?: PasswordOptions; config?: Record<string, unknown> } = {}) {
  return bootApps(
    [
      identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl: 'http://ui.test', defaultReturnUrl: 'https://app.example.com/', allowedReturnUrls: ['https://*.example.com/', 'https://shop.test/app'] }, ...opts.identity }),
      password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, ...opts.password }),
    ],
    { database, config: opts.config as never },
  )
}

/** The test self-service settings (UI, return URLs) every identity suite uses. */
export const testSelfservice = { uiUrl: 'http://ui.test', defaultReturnUrl: 'https://app.example.com/', allowedReturnUrls: ['https://*.example.com/', 'https://shop.test/app'] }

/** The identity plugin with one schema, beside the given credential-method plugins, on a given database. */
export function bootWithMethods(database: Database | undefined, schema: Record<string, unknown>, methods: PluginInstance[], opts: { identity?: Partial<IdentityOptionsInput> } = {}) {
  return bootApps([identity({ schemas: [{ id: 'default', schema }], selfservice: testSelfservice, ...opts.identity }), ...methods], { database })
}

/** A k-anonymity range server (HIBP's format) over a real socket: `SUFFIX:COUNT` lines per 5-hex prefix. */
export function rangeServer(breached: string[]) {
  const requested: string[] = []
  const sha1 = (s: string) => new Bun.CryptoHasher('sha1').update(s).digest('hex').toUpperCase()
  const server = Bun.serve({
    port: 0,
    fetch(req) {
      const prefix = new URL(req.url).pathname.split('/').pop()!.toUpperCase()
      requested.push(prefix)
      const lines = breached.map(sha1).filter((h) => h.startsWith(prefix)).map((h) => `${h.slice(5)}:42`)
      lines.push('0000000000000000000000000000000000A:0')
      return new Response(lines.join('\r\n'))
    },
  })
  return { url: `http://127.0.0.1:${server.port}/range`, requested, stop: () => server.stop(true) }
}
