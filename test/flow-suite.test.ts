/**
 * The flow suite (`tessera/testing/flows`, testing/flows.ts) for each credential method in this repository: the password
 * plugin and the hardware-token example, which is written against the documented contract alone.
 */
import { password } from '../plugins/password/index.ts'
import { hardwareToken } from '../examples/hardware-token/index.ts'
import { flowSuite } from '../testing/flows.ts'
import './helpers/databases.ts' // in CI, a missing TESSERA_TEST_POSTGRES_URL fails instead of skipping
import { quickstartSchema } from './helpers/identity.ts'

/** The quickstart schema with `email` marked as an identifier for one more method. */
function schemaFor(method: string): Record<string, unknown> {
  const s = structuredClone(quickstartSchema) as any
  s.properties.traits.properties.email['ory.sh/kratos'].credentials[method] = { identifier: true }
  return s
}

const PW = 'correct horse battery staple'

flowSuite({
  id: 'password',
  plugins: () => [password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } })],
  schema: quickstartSchema,
  registration: () => ({ password: PW }),
  login: (identifier) => ({ identifier, password: PW }),
  wrong: (identifier) => ({ identifier, password: 'not the password at all' }),
  import: () => ({ config: { password: 'an imported passphrase' }, login: (identifier) => ({ identifier, password: 'an imported passphrase' }) }),
  // Kratos shows the hash with include_credential=password.
  revealed: ['hashed_password'],
})

flowSuite({
  id: 'hardware-token',
  plugins: () => [hardwareToken()],
  schema: schemaFor('hardware-token'),
  registration: () => ({ serial: 'HT0042', code: '12345678-alpha' }),
  login: (identifier) => ({ identifier, code: '12345678-alpha' }),
  wrong: (identifier) => ({ identifier, code: '12345678-omega' }),
  import: () => ({ config: { serial: 'HT9000', code: 'imported-code-1' }, login: (identifier) => ({ identifier, code: 'imported-code-1' }) }),
  revealed: ['serial'],
})
