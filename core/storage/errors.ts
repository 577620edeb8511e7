import { StorageError, type TesseraErrorInit } from '../errors.ts'

/** A row with the same unique key exists. Repositories map it to 409. */
export class UniqueViolationError extends StorageError {
  override readonly name: string = 'UniqueViolationError'
  constructor(cause: unknown) {
    super('ERR_UNIQUE_VIOLATION', 'a row with the same unique key already exists', { cause })
  }
}

export class ForeignKeyViolationError extends StorageError {
  override readonly name: string = 'ForeignKeyViolationError'
  constructor(cause: unknown) {
    super('ERR_FOREIGN_KEY_VIOLATION', 'a referenced row does not exist', { cause })
  }
}

/** The database cannot be reached. Renders as 503. */
export class StorageUnavailableError extends StorageError {
  override readonly name: string = 'StorageUnavailableError'
  constructor(reason: string, cause?: unknown) {
    super('ERR_STORAGE_UNAVAILABLE', `the database is unavailable: ${reason}`, { cause }, 503)
  }
}

/** A tenant-scoped query that does not filter on the tenant. A programming error. */
export class TenantScopeError extends StorageError {
  override readonly name: string = 'TenantScopeError'
  constructor(statement: string) {
    super(
      'ERR_TENANT_SCOPE',
      `a tenant-scoped query must filter on nid; use db.unscoped for tenant-independent tables: ${statement.slice(0, 200)}`,
    )
  }
}

export class MigrationError extends StorageError {
  override readonly name: string = 'MigrationError'
  constructor(message: string, init: TesseraErrorInit = {}) {
    super('ERR_MIGRATION', message, init)
  }
}
