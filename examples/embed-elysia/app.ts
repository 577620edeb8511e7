/**
 * Tessera mounted into an existing Elysia app.
 *
 *   bun examples/embed-elysia/app.ts      # http://localhost:3000
 *
 * Tessera's public routes join the host's; its admin API sits under
 * /tessera/admin and its health checks under /tessera; host routes get the
 * caller's subject through the `subject` and `session` macros.
 */
import { Elysia } from 'elysia'
import { type TesseraConfig, defineConfig } from 'tessera'
import { type EmbedOptions, tessera } from 'tessera/elysia'

export const defaultConfig = defineConfig({
  dev: true,
  dsn: 'sqlite::memory:',
  plugins: [],
})

export async function createApp(config: TesseraConfig = defaultConfig, options: EmbedOptions = {}) {
  const auth = await tessera(config, { admin: { prefix: '/tessera/admin' }, health: { prefix: '/tessera' }, migrate: true, ...options })
  return (
    new Elysia()
      .use(auth)
      // a second .use() of the same instance is a no-op
      .use(auth)
      .get('/', () => 'the host app')
      // `subject: true`: the caller, or null when anonymous (or before an identity plugin is installed)
      .get('/hello', ({ subject }) => (subject ? `hello ${subject.id}` : 'hello stranger'), { subject: true })
      // `session: true`: 401 in Ory's error shape when there is no caller
      .get('/account', ({ subject }) => ({ id: subject.id, type: subject.type }), { session: true })
      .get('/host-error', () => {
        throw new Error('a host bug')
      })
  )
}

if (import.meta.main) {
  const app = await createApp()
  app.listen(Number(process.env.PORT ?? 3000))
  console.log(`host app on http://localhost:${app.server?.port}`)
}
