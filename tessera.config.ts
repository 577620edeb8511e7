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
import { password } from './plugins/password/index.ts'
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
    ui(), // the account pages at /ui: sign-in, sign-up, recovery, verification, settings
  ],
})
