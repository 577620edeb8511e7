/**
 * panva's oidc-provider, configured as bench/oauth2.ts measures Tessera: the client_credentials grant, opaque
 * access tokens, one confidential client authenticating with client_secret_basic (at the token and the
 * introspection endpoint alike), its in-memory adapter (the default when no adapter is given), introspection on.
 *
 *   PORT=… CLIENT_ID=… CLIENT_SECRET=… bun bench/lib/oidc-provider-server.ts   (or node, with --experimental-strip-types)
 */
// @ts-expect-error oidc-provider ships no type declarations (its types are @types/oidc-provider, not worth a dependency here)
import Provider from 'oidc-provider'

const port = Number(process.env.PORT ?? 0)
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: process.env.CLIENT_ID ?? 'bench',
      client_secret: process.env.CLIENT_SECRET ?? 'bench-secret-bench-secret-bench-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read write',
    },
  ],
  scopes: ['read', 'write'],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
  },
  // its default lifespan for client credentials tokens (600 s) would expire the measured token mid-run
  ttl: { ClientCredentials: 3600 },
})
// the in-memory adapter's warning, and the production checks' notices, would only add noise to the table
provider.on('server_error', (_ctx: unknown, err: Error) => console.error(err))
provider.listen(port, '127.0.0.1')
console.log(`oidc-provider on ${port} (${typeof Bun === 'undefined' ? `node ${process.version}` : `bun ${Bun.version}`})`)
