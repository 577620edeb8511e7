/**
 * The oauth2 plugin's tables, for the whole issue (part 1 uses clients, keys, access and refresh tokens and
 * jti; the authorization endpoint, challenges, sessions, device flow and trusted issuers come next). Written
 * once for SQLite and PostgreSQL. Every table carries the tenant (nid); every token, code and challenge is
 * stored as a hash (`signature`: SHA-256 of the whole value), never as itself.
 *
 * A chain (`chain_id`) is one grant's lineage: the code it started from, every refresh token rotated from it,
 * every access token issued along the way. Revoking a chain (a reused refresh token, a reused code, a revoked
 * consent) deactivates all of it in two statements.
 */
import type { Migration } from 'tessera'

export const migrations: Migration[] = [
  {
    id: '0001_init',
    up: `
CREATE TABLE oauth2_clients (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  client JSONB NOT NULL,
  secret_hash TEXT,
  rotated_secret_hashes JSONB NOT NULL,
  client_name TEXT NOT NULL,
  owner TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE TABLE oauth2_jwks (
  nid TEXT NOT NULL,
  set_id TEXT NOT NULL,
  kid TEXT NOT NULL,
  alg TEXT NOT NULL,
  use TEXT NOT NULL,
  public_jwk JSONB NOT NULL,
  private_sealed TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  sign_from TIMESTAMPTZ NOT NULL,
  sign_until TIMESTAMPTZ,
  verify_until TIMESTAMPTZ,
  PRIMARY KEY (nid, set_id, kid)
);
CREATE TABLE oauth2_access_tokens (
  nid TEXT NOT NULL,
  signature TEXT NOT NULL,
  chain_id TEXT NOT NULL,
  refresh_signature TEXT,
  client_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  grant_type TEXT NOT NULL,
  scope TEXT NOT NULL,
  audience JSONB NOT NULL,
  ext JSONB NOT NULL,
  consent_id TEXT,
  active BOOLEAN NOT NULL,
  issued_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, signature)
);
CREATE INDEX oauth2_access_tokens_chain_idx ON oauth2_access_tokens (nid, chain_id);
CREATE INDEX oauth2_access_tokens_client_idx ON oauth2_access_tokens (nid, client_id);
CREATE INDEX oauth2_access_tokens_expires_idx ON oauth2_access_tokens (nid, expires_at);
CREATE TABLE oauth2_refresh_tokens (
  nid TEXT NOT NULL,
  signature TEXT NOT NULL,
  chain_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  grant_type TEXT NOT NULL,
  scope TEXT NOT NULL,
  audience JSONB NOT NULL,
  ext JSONB NOT NULL,
  session JSONB NOT NULL,
  consent_id TEXT,
  active BOOLEAN NOT NULL,
  used_at TIMESTAMPTZ,
  issued_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, signature)
);
CREATE INDEX oauth2_refresh_tokens_chain_idx ON oauth2_refresh_tokens (nid, chain_id);
CREATE INDEX oauth2_refresh_tokens_client_idx ON oauth2_refresh_tokens (nid, client_id);
CREATE INDEX oauth2_refresh_tokens_expires_idx ON oauth2_refresh_tokens (nid, expires_at);
CREATE TABLE oauth2_authorization_codes (
  nid TEXT NOT NULL,
  signature TEXT NOT NULL,
  chain_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  scope TEXT NOT NULL,
  audience JSONB NOT NULL,
  redirect_uri TEXT NOT NULL,
  nonce TEXT,
  code_challenge TEXT,
  code_challenge_method TEXT,
  session JSONB NOT NULL,
  consent_id TEXT,
  active BOOLEAN NOT NULL,
  used_at TIMESTAMPTZ,
  issued_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, signature)
);
CREATE INDEX oauth2_authorization_codes_expires_idx ON oauth2_authorization_codes (nid, expires_at);
CREATE TABLE oauth2_flows (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  state TEXT NOT NULL,
  client_id TEXT NOT NULL,
  request JSONB NOT NULL,
  subject TEXT,
  login_session_id TEXT,
  login_challenge_hash TEXT NOT NULL,
  login_verifier_hash TEXT,
  consent_challenge_hash TEXT,
  consent_verifier_hash TEXT,
  login JSONB,
  consent JSONB,
  csrf_hash TEXT NOT NULL,
  requested_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE UNIQUE INDEX oauth2_flows_login_challenge_idx ON oauth2_flows (nid, login_challenge_hash);
CREATE INDEX oauth2_flows_consent_challenge_idx ON oauth2_flows (nid, consent_challenge_hash);
CREATE INDEX oauth2_flows_expires_idx ON oauth2_flows (nid, expires_at);
CREATE TABLE oauth2_login_sessions (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  subject TEXT NOT NULL,
  identity_session_id TEXT,
  remember BOOLEAN NOT NULL,
  acr TEXT,
  amr JSONB NOT NULL,
  authenticated_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE INDEX oauth2_login_sessions_subject_idx ON oauth2_login_sessions (nid, subject);
CREATE TABLE oauth2_consents (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  subject TEXT NOT NULL,
  client_id TEXT NOT NULL,
  login_session_id TEXT,
  granted_scope JSONB NOT NULL,
  granted_audience JSONB NOT NULL,
  session JSONB NOT NULL,
  remember BOOLEAN NOT NULL,
  remember_until TIMESTAMPTZ,
  revoked BOOLEAN NOT NULL,
  handled_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE INDEX oauth2_consents_subject_idx ON oauth2_consents (nid, subject, client_id);
CREATE TABLE oauth2_logout_requests (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  challenge_hash TEXT NOT NULL,
  verifier_hash TEXT,
  subject TEXT NOT NULL,
  login_session_id TEXT,
  client_id TEXT,
  post_logout_redirect_uri TEXT,
  state TEXT,
  rp_initiated BOOLEAN NOT NULL,
  status TEXT NOT NULL,
  requested_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE UNIQUE INDEX oauth2_logout_requests_challenge_idx ON oauth2_logout_requests (nid, challenge_hash);
CREATE TABLE oauth2_logout_deliveries (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  uri TEXT NOT NULL,
  logout_token TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE INDEX oauth2_logout_deliveries_due_idx ON oauth2_logout_deliveries (nid, next_attempt_at);
CREATE TABLE oauth2_device_codes (
  nid TEXT NOT NULL,
  device_code_hash TEXT NOT NULL,
  user_code_hash TEXT NOT NULL,
  chain_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  audience JSONB NOT NULL,
  status TEXT NOT NULL,
  subject TEXT,
  session JSONB,
  flow_id TEXT,
  interval_seconds INTEGER NOT NULL,
  last_polled_at TIMESTAMPTZ,
  issued_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, device_code_hash)
);
CREATE UNIQUE INDEX oauth2_device_codes_user_code_idx ON oauth2_device_codes (nid, user_code_hash);
CREATE TABLE oauth2_trusted_issuers (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  allow_any_subject BOOLEAN NOT NULL,
  scope JSONB NOT NULL,
  public_key JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE UNIQUE INDEX oauth2_trusted_issuers_key_idx ON oauth2_trusted_issuers (nid, issuer, subject, id);
CREATE TABLE oauth2_used_jti (
  nid TEXT NOT NULL,
  jti_hash TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, jti_hash)
);
`,
  },
]
