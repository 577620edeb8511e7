/**
 * First-party plugins by name, for JSON/YAML configs (`{ "use": "identity" }`), the CLI's plugin commands and the
 * generated config JSON Schema. Each entry loads the plugin's module when first asked for: a process imports only
 * the plugins its config uses (a server with the oauth2 plugin alone answered 6–9% more introspections in paired
 * rounds than one that had every plugin loaded; bench/README.md). The compiled binary bundles every one.
 */
import type { PluginCatalog } from '../core/config/load.ts'

export const catalog: PluginCatalog = {
  code: () => import('./code/index.ts').then((m) => m.code),
  courier: () => import('./courier/index.ts').then((m) => m.courier),
  identity: () => import('./identity/index.ts').then((m) => m.identity),
  'lookup-secret': () => import('./lookup-secret/index.ts').then((m) => m.lookupSecret),
  oauth2: () => import('./oauth2/index.ts').then((m) => m.oauth2),
  password: () => import('./password/index.ts').then((m) => m.password),
  permissions: () => import('./permissions/index.ts').then((m) => m.permissions),
  proxy: () => import('./proxy/index.ts').then((m) => m.proxy),
  totp: () => import('./totp/index.ts').then((m) => m.totp),
  ui: () => import('./ui/index.ts').then((m) => m.ui),
  webauthn: () => import('./webauthn/index.ts').then((m) => m.webauthn),
}
