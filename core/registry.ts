/**
 * Registries: how plugins find each other's contributions without importing
 * each other ("the credential method `password`", "the authorizer `permissions`").
 */
import { PluginError } from './errors.ts'
import type { CredentialMethod } from './flows/types.ts'
import type { Authenticator, Authorizer, ErrorHandler, Mutator } from './pipeline/types.ts'
import type { StorageDriver } from './storage/types.ts'
import type { SubjectResolver } from './subject.ts'

export class Registry<T extends { id: string }> {
  readonly #items = new Map<string, { item: T; owner: string }>()

  /** `kind` names the registry in messages: "authenticator", "credential method". */
  constructor(readonly kind: string) {}

  register(item: T, owner: string): void {
    if (!item || typeof item.id !== 'string' || item.id.length === 0) {
      throw new PluginError('ERR_INVALID_REGISTRATION', `plugin \`${owner}\` registered a ${this.kind} without an id`)
    }
    const existing = this.#items.get(item.id)
    if (existing) {
      throw new PluginError(
        'ERR_DUPLICATE_REGISTRATION',
        `the ${this.kind} \`${item.id}\` is registered twice: by plugin \`${existing.owner}\` and by plugin \`${owner}\``,
      )
    }
    this.#items.set(item.id, { item, owner })
  }

  get(id: string): T | undefined {
    return this.#items.get(id)?.item
  }

  /** The item, or an error that says which are registered and how to get the missing one. */
  require(id: string, neededBy?: string): T {
    const found = this.#items.get(id)
    if (found) return found.item
    const known = [...this.#items.keys()]
    throw new PluginError(
      'ERR_NOT_REGISTERED',
      `${neededBy ? `${neededBy} needs ` : ''}the ${this.kind} \`${id}\`, which no plugin registered; ` +
        (known.length ? `registered: ${known.join(', ')}` : `no ${this.kind} is registered`) +
        ` (add the plugin that provides it to plugins)`,
    )
  }

  list(): T[] {
    return [...this.#items.values()].map((e) => e.item)
  }

  ids(): string[] {
    return [...this.#items.keys()]
  }
}

export interface Registries {
  authenticators: Registry<Authenticator<any>>
  authorizers: Registry<Authorizer<any>>
  mutators: Registry<Mutator<any>>
  errorHandlers: Registry<ErrorHandler<any>>
  credentialMethods: Registry<CredentialMethod<any>>
  storageDrivers: Registry<StorageDriver>
  subjectResolvers: Registry<SubjectResolver>
}

export function createRegistries(): Registries {
  return {
    authenticators: new Registry('authenticator'),
    authorizers: new Registry('authorizer'),
    mutators: new Registry('mutator'),
    errorHandlers: new Registry('error handler'),
    credentialMethods: new Registry('credential method'),
    storageDrivers: new Registry('storage driver'),
    subjectResolvers: new Registry('subject resolver'),
  }
}

/**
 * Typed services plugins offer each other (`identity.sessions`, `permissions.check`).
 * Plugins declare theirs by augmenting this interface:
 *
 * ```ts
 * declare module 'tessera/registry' {
 *   interface TesseraServices { 'permissions.check': (tuple: Tuple) => Promise<boolean> }
 * }
 * ```
 */
// biome-ignore lint: augmented by plugins
export interface TesseraServices {}

type ServiceName = (keyof TesseraServices & string) | (string & {})
type ServiceOf<K> = K extends keyof TesseraServices ? TesseraServices[K] : unknown

export class Services {
  readonly #items = new Map<string, { impl: unknown; owner: string }>()

  provide<K extends ServiceName>(name: K, impl: ServiceOf<K>, owner: string): void {
    const existing = this.#items.get(name)
    if (existing) {
      throw new PluginError(
        'ERR_DUPLICATE_REGISTRATION',
        `the service \`${name}\` is provided twice: by plugin \`${existing.owner}\` and by plugin \`${owner}\``,
      )
    }
    this.#items.set(name, { impl, owner })
  }

  get<K extends ServiceName>(name: K): ServiceOf<K> | undefined {
    return this.#items.get(name)?.impl as ServiceOf<K> | undefined
  }
}
