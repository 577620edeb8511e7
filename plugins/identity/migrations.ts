import type { Migration } from 'tessera'

/** Every table carries the tenant (nid); every lookup starts with it. */
export const migrations: Migration[] = [
  {
    id: '0001_init',
    up: `
CREATE TABLE identities (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  schema_id TEXT NOT NULL,
  traits JSONB NOT NULL,
  state TEXT NOT NULL,
  state_changed_at TIMESTAMPTZ,
  metadata_public JSONB,
  metadata_admin JSONB,
  external_id TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE UNIQUE INDEX identities_external_id_idx ON identities (nid, external_id);
CREATE TABLE identity_credentials (
  nid TEXT NOT NULL,
  identity_id TEXT NOT NULL,
  type TEXT NOT NULL,
  config JSONB NOT NULL,
  version INTEGER NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, identity_id, type)
);
CREATE TABLE identity_credential_identifiers (
  nid TEXT NOT NULL,
  type TEXT NOT NULL,
  identifier TEXT NOT NULL,
  identity_id TEXT NOT NULL,
  PRIMARY KEY (nid, type, identifier)
);
CREATE INDEX identity_credential_identifiers_identity_idx ON identity_credential_identifiers (nid, identity_id);
CREATE TABLE sessions (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  identity_id TEXT NOT NULL,
  active BOOLEAN NOT NULL,
  aal TEXT NOT NULL,
  methods JSONB NOT NULL,
  devices JSONB NOT NULL,
  authenticated_at TIMESTAMPTZ NOT NULL,
  issued_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE UNIQUE INDEX sessions_token_idx ON sessions (nid, token_hash);
CREATE INDEX sessions_identity_idx ON sessions (nid, identity_id);
CREATE TABLE selfservice_flows (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  type TEXT NOT NULL,
  csrf_token TEXT NOT NULL,
  flow JSONB NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
`,
  },
  {
    id: '0002_signing_keys',
    up: `
CREATE TABLE identity_signing_keys (
  nid TEXT NOT NULL,
  kid TEXT NOT NULL,
  private_sealed TEXT NOT NULL,
  public_jwk JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, kid)
);
`,
  },
  {
    // whoami serves this pre-rendered session (with its identity) as is: nothing is recomputed per request.
    // Re-rendered when the session is extended or its identity changes.
    id: '0003_session_snapshot',
    up: `ALTER TABLE sessions ADD COLUMN snapshot TEXT;`,
  },
  {
    // The expired-flow sweep (sweep.ts) finds its rows per tenant by expiry.
    id: '0004_flows_expires_idx',
    up: `CREATE INDEX selfservice_flows_expires_idx ON selfservice_flows (nid, expires_at);`,
  },
  {
    // Flow creation per client address (engine.ts FlowLimiter): one row per address and fixed window, swept by window.
    id: '0005_flow_creation_limit',
    up: `
CREATE TABLE identity_flow_creation (
  nid TEXT NOT NULL,
  key TEXT NOT NULL,
  window_start BIGINT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (nid, key)
);
CREATE INDEX identity_flow_creation_window_idx ON identity_flow_creation (nid, window_start);
`,
  },
  {
    // Verifiable and recovery addresses stored for real (Kratos' identity_verifiable_addresses and
    // identity_recovery_addresses): pending → sent → completed with verified_at. Looked up by value for recovery
    // and verification, by identity for rendering.
    id: '0006_addresses',
    up: `
CREATE TABLE identity_verifiable_addresses (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  identity_id TEXT NOT NULL,
  via TEXT NOT NULL,
  value TEXT NOT NULL,
  verified BOOLEAN NOT NULL,
  status TEXT NOT NULL,
  verified_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE INDEX identity_verifiable_addresses_value_idx ON identity_verifiable_addresses (nid, value);
CREATE INDEX identity_verifiable_addresses_identity_idx ON identity_verifiable_addresses (nid, identity_id);
CREATE TABLE identity_recovery_addresses (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  identity_id TEXT NOT NULL,
  via TEXT NOT NULL,
  value TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE INDEX identity_recovery_addresses_value_idx ON identity_recovery_addresses (nid, value);
CREATE INDEX identity_recovery_addresses_identity_idx ON identity_recovery_addresses (nid, identity_id);
`,
  },
  {
    // The language a flow was started in (the creating request's Accept-Language, a BCP 47 tag), kept beside the
    // flow and not in its public body (Kratos' flow JSON has no such field): messages sent from the flow use it.
    id: '0007_flow_locale',
    up: `ALTER TABLE selfservice_flows ADD COLUMN locale TEXT;`,
  },
  {
    // Kratos' selfservice_errors: errors a browser is sent to the UI's error page with (flow-errors.ts), read by id.
    id: '0008_selfservice_errors',
    up: `
CREATE TABLE selfservice_errors (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  errors JSONB NOT NULL,
  was_seen BOOLEAN NOT NULL,
  seen_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE INDEX selfservice_errors_created_idx ON selfservice_errors (nid, created_at);
`,
  },
]
