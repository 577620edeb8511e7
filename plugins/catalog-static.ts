/**
 * The first-party plugins imported up front: the compiled binary's catalog (bin/tessera-compiled.ts). The same
 * names as plugins/catalog.ts, which loads each when a config names it (test/binary.test.ts compares the two).
 * Not lazy here because Bun's bundler evaluates a dynamically imported chunk's CommonJS dependencies out of
 * order: @simplewebauthn/server's `import 'reflect-metadata'` ran after tsyringe, which refuses to load without it.
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
