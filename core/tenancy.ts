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

export async function resolveTenant(request: Request, tenancy: ValidatedConfig['tenancy']): Promise<string> {
  if (tenancy.resolve) {
    const t = await tenancy.resolve(request)
    if (t !== null && t !== undefined) {
      if (typeof t !== 'string' || !TENANT_ID.test(t)) throw new BadRequestError('The request names an invalid tenant')
      return t
    }
  }
  if (tenancy.hosts) {
    const host = hostOf(request)
    if (host) {
      const t = tenancy.hosts[host]
      if (t) return t
    }
  }
  return tenancy.default
}

function hostOf(request: Request): string | null {
  try {
    return new URL(request.url).hostname.toLowerCase()
  } catch {
    return null
  }
}
