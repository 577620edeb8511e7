/**
 * The repository's own configuration: what `bun run start` serves.
 * Embedded default: SQLite in ./tessera.sqlite, migrated automatically,
 * development mode (ephemeral secrets unless SECRETS_SYSTEM is set) unless
 * NODE_ENV=production.
 */
import { defineConfig } from 'tessera'

export default defineConfig({
  dev: process.env.NODE_ENV !== 'production',
  dsn: 'sqlite://tessera.sqlite',
  migrations: { auto: true },
  plugins: [],
})
