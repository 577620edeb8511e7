/**
 * Credentials through the credential-method contract (core/flows/types.ts): the identifiers each method derives
 * from the identity schema, config validation before anything is stored, admin imports, and what the admin API
 * shows of a config. Nothing here knows a method by name: every method is found in the core's
 * `credentialMethods` registry by the credential type it stores.
 */
import * as v from 'valibot'
import { BadRequestError, type CredentialMethod, type NewCredential as MethodCredential, type Registry, type ScopedDb, ValidationError, parseAsync } from 'tessera'
import type { IdentityRepo, NewCredential } from './repo.ts'
import { type CompiledSchema, credentialFields, identifiersOf } from './schemas.ts'

/** `credentials` in POST/PUT /admin/identities: per credential type, `{ config }` (checked by the type's importer). */
export const ImportedCredentials = v.record(v.string(), v.object({ config: v.optional(v.record(v.string(), v.unknown()), {}) }))

const bad = (reason: string) => new BadRequestError('The request was malformed or contained invalid parameters', { reason })

/** Re-throw a validation error with its issue paths under `prefix` (`credentials.password.config`). */
function under<T>(prefix: string, run: () => Promise<T>): Promise<T> {
  return run().catch((e) => {
    if (e instanceof ValidationError) throw new ValidationError(e.issues.map((i) => ({ path: i.path ? `${prefix}.${i.path}` : prefix, message: i.message })))
    throw e
  })
}

export class CredentialTypes {
  constructor(private readonly registry: Registry<CredentialMethod<any>>) {}

  method(type: string): CredentialMethod | undefined {
    return this.registry.get(type)
  }

  /** The identifiers method `type` derives from these traits (none when it is not installed). */
  identifiers(schema: CompiledSchema, type: string, traits: unknown): string[] {
    const m = this.method(type)
    return m ? identifiersOf(schema, m, traits) : []
  }

  /**
   * A method's config, validated against its declared schema. A method that declares no config schema cannot
   * store credentials: that is a programming error in the method, not bad input.
   */
  async validConfig(type: string, config: unknown): Promise<Record<string, unknown>> {
    const spec = this.method(type)?.credential
    if (!spec) throw new Error(`credential method \`${type}\` stores a credential but declares no \`credential.config\` schema`)
    return (await parseAsync(spec.config, config)) as Record<string, unknown>
  }

  /** What the engine stores for a credential a method produced: a validated config and its identifiers. */
  async toStored(schema: CompiledSchema, type: string, traits: unknown, c: MethodCredential): Promise<NewCredential> {
    const config = await this.validConfig(type, c.config).catch((e) => {
      if (e instanceof ValidationError) throw new Error(`credential method \`${type}\` produced a config that does not match its schema: ${e.reason}`)
      throw e
    })
    return { type, config, identifiers: c.identifiers ?? this.identifiers(schema, type, traits) }
  }

  /** Admin import (`credentials.<type>.config`): every type must be installed and importable; each config is validated twice (input, stored). */
  async importAll(db: ScopedDb, schema: CompiledSchema, traits: Record<string, unknown>, input: v.InferOutput<typeof ImportedCredentials> | undefined): Promise<NewCredential[]> {
    const out: NewCredential[] = []
    for (const [type, { config }] of Object.entries(input ?? {})) {
      const m = this.method(type)
      if (!m) throw bad(`Unknown credential type "${type}": no installed credential method stores it (installed: ${this.registry.ids().join(', ') || 'none'}).`)
      const importer = m.credential?.import
      if (!importer) throw bad(`Credentials of type "${type}" cannot be imported.`)
      const prefix = `credentials.${type}.config`
      const parsed = await under(prefix, () => parseAsync(importer.input, config))
      const identifiers = identifiersOf(schema, m, traits)
      const made = await importer.toCredential(parsed, { tenant: db.nid, db, traits, identifiers })
      if (!made) continue
      const stored = await under(prefix, () => this.validConfig(type, made.config))
      out.push({ type, config: stored, identifiers: made.identifiers ?? identifiers })
    }
    return out
  }

  /** The config fields the admin API shows for `include_credential=<type>`: those the method reveals, by default none. */
  revealed(type: string, config: Record<string, unknown>): Record<string, unknown> | undefined {
    const fields = this.method(type)?.credential?.reveal ?? []
    if (fields.length === 0) return undefined
    return Object.fromEntries(fields.filter((f) => f in config).map((f) => [f, config[f]]))
  }

  /**
   * After the traits changed: re-derive the identifiers of each stored credential whose method reads them from
   * the schema. A method the schema does not mark keeps the identifiers it stored itself.
   */
  async resyncIdentifiers(repo: IdentityRepo, schema: CompiledSchema, identityId: string, types: string[], traits: unknown): Promise<void> {
    for (const type of types) {
      const m = this.method(type)
      if (!m || credentialFields(schema, m.id).length === 0) continue
      await repo.replaceIdentifiers(identityId, type, identifiersOf(schema, m, traits))
    }
  }
}
