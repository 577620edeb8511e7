/**
 * The repository's own configuration: what `bun run start` serves — open http://localhost:4433 in a browser.
 * Embedded default: SQLite in ./tessera.sqlite, migrated automatically, development mode (ephemeral secrets
 * unless SECRETS_SYSTEM is set) unless NODE_ENV=production.
 */
import { defineConfig } from 'tessera'
import { code } from './plugins/code/index.ts'
import { courier } from './plugins/courier/index.ts'
import { identity } from './plugins/identity/index.ts'
import { lookupSecret } from './plugins/lookup-secret/index.ts'
import { oauth2 } from './plugins/oauth2/index.ts'
import { password } from './plugins/password/index.ts'
import { permissions } from './plugins/permissions/index.ts'
import { proxy } from './plugins/proxy/index.ts'
import { totp } from './plugins/totp/index.ts'
import { ui } from './plugins/ui/index.ts'
import { webauthn } from './plugins/webauthn/index.ts'
import personSchema from './schemas/identity.default.json'

const dev = process.env.NODE_ENV !== 'production'

export default defineConfig({
  dev,
  dsn: 'sqlite://tessera.sqlite',
  migrations: { auto: true },
  plugins: [
    // Kratos' quickstart: traits.email is the password identifier, verifiable and recoverable by email.
    identity({ schemas: [{ id: 'default', schema: personSchema }] }),
    password(),
    // e-mail: in development the courier delivers to its outbox, shown at /ui/outbox (no SMTP server needed);
    // in production give it `smtp: { connectionUri: process.env.SMTP_URL }`. In development its admin API
    // (GET /admin/courier/messages) shows the codes too, for trying the flows with curl.
    courier({ outbox: dev, admin: { revealSecrets: dev } }),
    code(), // verification and recovery by code, passwordless sign-in by code
    totp({ issuer: 'Tessera' }),
    lookupSecret(),
    webauthn({ rp: { id: 'localhost', name: 'Tessera', origins: ['http://localhost:4433'] } }),
    // OAuth2 / OpenID Connect provider (Hydra's API): sign-in and consent through the pages above;
    // add a client with `bun run tessera clients create`, discovery at /.well-known/openid-configuration
    oauth2(),
    // Zanzibar permissions (Keto's API) with a small example model: who may view a document
    permissions({
      namespaces: `
        class User implements Namespace {}
        class Document implements Namespace {
          related: { owners: User[]; viewers: User[] }
          permits = {
            view: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject) || this.related.owners.includes(ctx.subject),
          }
        }`,
    }),
    // access rules (Oathkeeper's format), asked at the admin listener's /decisions: a signed-in user may read
    // /documents/<id> when the permissions above let their identity view Document:<id>
    proxy({
      serve: { enabled: false }, // the reverse-proxy listener (:4455) is off here: /decisions is enough for the tour
      rules: [
        {
          id: 'documents',
          match: { url: 'http://<[^/]+>/documents/<[^/]+>', methods: ['GET'] }, // <…>: regular expressions
          authenticators: [{ handler: 'bearer_token' }, { handler: 'cookie_session' }],
          authorizer: {
            handler: 'permissions',
            config: { namespace: 'Document', relation: 'view', object: '{{ index .MatchContext.RegexpCaptureGroups 1 }}' },
          },
          mutators: [{ handler: 'header', config: { headers: { 'X-User': '{{ print .Subject }}' } } }],
        },
      ],
    }),
    ui(), // the account pages at /ui: sign-in, sign-up, recovery, verification, settings, OAuth2 consent
  ],
})
