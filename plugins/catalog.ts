/**
 * First-party plugins by name, for JSON/YAML configs (`{ "use": "identity" }`)
 * and for the generated config JSON Schema. Each entry is the plugin's factory.
 */
import type { PluginCatalog } from '../core/config/load.ts'
import { code } from './code/index.ts'
import { courier } from './courier/index.ts'
import { identity } from './identity/index.ts'
import { lookupSecret } from './lookup-secret/index.ts'
import { oauth2 } from './oauth2/index.ts'
import { password } from './password/index.ts'
import { permissions } from './permissions/index.ts'
import { proxy } from './proxy/index.ts'
import { totp } from './totp/index.ts'
import { ui } from './ui/index.ts'
import { webauthn } from './webauthn/index.ts'

export const catalog: PluginCatalog = {
  code,
  courier,
  identity,
  'lookup-secret': lookupSecret,
  oauth2,
  password,
  permissions,
  proxy,
  totp,
  ui,
  webauthn,
}
