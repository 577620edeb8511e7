/**
 * A static API-key authenticator, as a Tessera plugin. The walkthrough in
 * docs/plugins.md builds it step by step.
 *
 * Keys are configured by their SHA-256 hash, never in plain text, so the config
 * file is not a secret. A request presents the key in a header (`X-API-Key` by
 * default); the plugin contributes:
 *   - the authenticator `api_key` for access rules and the proxy pipeline,
 *   - a subject resolver, so host apps using `{ session: true }` accept API keys,
 *   - an admin route listing the configured keys (ids and subjects only),
 *   - the event `api_key.used`.
 */
import * as v from 'valibot'
import { AUTHENTICATED, NOT_RESPONSIBLE, type Authenticator, constantTimeEqual, definePlugin, sha256Hex, unauthorized } from 'tessera'

declare module 'tessera/events' {
  interface TesseraEvents {
    /** An API key authenticated a request. */
    'api_key.used': { keyId: string; subject: string }
  }
}

const KeySchema = v.object({
  /** A name for the key, shown in logs and the admin API. */
  id: v.pipe(v.string(), v.minLength(1)),
  /** SHA-256 of the key, hex: `printf %s "$KEY" | sha256sum`. */
  sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'expected the SHA-256 of the key as 64 lower-case hex digits')),
  /** Who the key acts as. */
  subject: v.pipe(v.string(), v.minLength(1)),
  scopes: v.optional(v.array(v.string()), []),
})

export const ApiKeyOptions = v.object({
  header: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]+$/)), 'X-API-Key'),
  keys: v.pipe(v.array(KeySchema), v.minLength(1, 'configure at least one key')),
})
export type ApiKeyOptions = v.InferInput<typeof ApiKeyOptions>
type Key = v.InferOutput<typeof KeySchema>

/** Find the key whose hash matches, comparing every hash in constant time. */
async function lookup(keys: Key[], presented: string): Promise<Key | undefined> {
  const hash = await sha256Hex(presented)
  let found: Key | undefined
  for (const k of keys) if (constantTimeEqual(k.sha256, hash) && !found) found = k
  return found
}

export const apiKeys = definePlugin({
  id: 'api-keys',
  description: 'Static API keys: an authenticator, a subject resolver and an admin listing',
  options: ApiKeyOptions,

  authenticators: (ctx) => {
    const authenticator: Authenticator = {
      id: 'api_key',
      async authenticate(req, session) {
        const presented = req.headers.get(ctx.options.header)
        if (!presented) return NOT_RESPONSIBLE // let the next authenticator try
        const key = await lookup(ctx.options.keys, presented)
        if (!key) return { kind: 'denied', error: unauthorized('api_key_unknown', 'The API key is not valid') }
        session.subject = key.subject
        session.extra = { ...session.extra, api_key: key.id, scopes: key.scopes }
        await ctx.emit('api_key.used', { keyId: key.id, subject: key.subject }, { tenant: req.tenant })
        return AUTHENTICATED
      },
    }
    return [authenticator]
  },

  subjectResolvers: (ctx) => [
    {
      id: 'api_key',
      async resolve(request, tenant) {
        const presented = request.headers.get(ctx.options.header)
        if (!presented) return null
        const key = await lookup(ctx.options.keys, presented)
        return key ? { id: key.subject, type: 'api_key', tenant, extra: { api_key: key.id, scopes: key.scopes } } : null
      },
    },
  ],

  routes: {
    admin: (app, ctx) => app.get('/admin/api-keys', () => ctx.options.keys.map(({ id, subject, scopes }) => ({ id, subject, scopes }))),
  },
})

export default apiKeys
