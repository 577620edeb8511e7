/**
 * Resolving the tenant (network id) of a request — once per request, by the
 * kernel's request context. Single-tenant installs always get `tenancy.default`.
 *
 * Order: the code resolver (`tenancy.resolve`), then the host map
 * (`tenancy.hosts`), then the default. A resolver that returns an id outside the
 * allowed pattern is refused with 400, so a tenant id never reaches SQL unchecked.
 */
import { BadRequestError } from './errors.ts'
import { TENANT_ID, type ValidatedConfig } from './config/schema.ts'

/** The tenant: at once from the host map or the default, a promise only when a code resolver is configured. */
export function resolveTenant(request: Request, tenancy: ValidatedConfig['tenancy']): string | Promise<string> {
  return tenancy.resolve ? fromResolver(request, tenancy, tenancy.resolve) : fromHosts(request, tenancy)
}

async function fromResolver(request: Request, tenancy: ValidatedConfig['tenancy'], resolve: NonNullable<ValidatedConfig['tenancy']['resolve']>): Promise<string> {
  const t = await resolve(request)
  if (t === null || t === undefined) return fromHosts(request, tenancy)
  if (typeof t !== 'string' || !TENANT_ID.test(t)) throw new BadRequestError('The request names an invalid tenant')
  return t
}

function fromHosts(request: Request, tenancy: ValidatedConfig['tenancy']): string {
  if (!tenancy.hosts) return tenancy.default
  let host: string
  try {
    host = new URL(request.url).hostname.toLowerCase()
  } catch {
    return tenancy.default
  }
  return tenancy.hosts[host] || tenancy.default
}
