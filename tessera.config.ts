/**
 * The repository's own configuration: what `bun run start` serves.
 * Embedded default: SQLite in ./tessera.sqlite, migrated automatically,
 * development mode (ephemeral secrets unless SECRETS_SYSTEM is set) unless
 * NODE_ENV=production.
 */
import { defineConfig } from 'tessera'
import { identity } from './plugins/identity/index.ts'
import { password } from './plugins/password/index.ts'
import personSchema from './schemas/identity.default.json'

export default defineConfig({
  dev: process.env.NODE_ENV !== 'production',
  dsn: 'sqlite://tessera.sqlite',
  migrations: { auto: true },
  plugins: [
    // Kratos' quickstart: traits.email is the password identifier, verifiable and recoverable by email.
    identity({ schemas: [{ id: 'default', schema: personSchema }] }),
    password(),
  ],
})
