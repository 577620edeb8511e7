/**
 * Tessera mounted into an existing Elysia app, with real identities and passwords.
 *
 *   bun examples/embed-elysia/app.ts      # http://localhost:3000
 *
 * Tessera's public routes (Kratos' self-service flows, whoami) join the host's at the root; its admin API
 * sits under /tessera (Ory's paths after it: /tessera/admin/identities) and its health checks under
 * /tessera/health; host routes get the caller through the `subject` and `session` macros. Flow URLs
 * (`ui.action`) point at this app, as the request reached it, unless `serve.public.baseUrl` is set.
 */
import { Elysia } from 'elysia'
import { type TesseraConfig, defineConfig } from 'tessera'
import { type EmbedOptions, tessera } from 'tessera/elysia'
import { identity } from 'tessera/plugins/identity'
import { password } from 'tessera/plugins/password'

/** A person with an email that is their login identifier (Kratos' quickstart schema, trimmed). */
export const personSchema = {
  $id: 'https://schemas.example.com/person.json',
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Person',
  type: 'object',
  properties: {
    traits: {
      type: 'object',
      properties: {
        email: {
          type: 'string',
          format: 'email',
          title: 'E-Mail',
          'ory.sh/kratos': { credentials: { password: { identifier: true } } },
        },
      },
      required: ['email'],
      additionalProperties: false,
    },
  },
}

export const defaultConfig = defineConfig({
  dev: true,
  dsn: 'sqlite::memory:',
  plugins: [identity({ schemas: [{ id: 'person', schema: personSchema }] }), password()],
})

export async function createApp(config: TesseraConfig = defaultConfig, options: EmbedOptions = {}) {
  const auth = await tessera(config, { admin: { prefix: '/tessera' }, health: { prefix: '/tessera' }, migrate: true, ...options })
  return (
    new Elysia()
      .use(auth)
      // a second .use() of the same instance is a no-op
      .use(auth)
      .get('/', () => 'the host app')
      // `subject: true`: the caller, or null when anonymous
      .get('/hello', ({ subject }) => (subject ? `hello ${subject.id}` : 'hello stranger'), { subject: true })
      // `session: true`: 401 in Ory's error shape when there is no caller
      .get('/account', ({ subject }) => ({ id: subject.id, type: subject.type, traits: (subject.identity as { traits?: unknown } | undefined)?.traits }), { session: true })
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
