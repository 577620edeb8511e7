/**
 * The courier's tables, as Kratos': `courier_messages` (the queue: a row per message, its status, the rendered
 * subject and bodies, the template data for channels that template their own request) and
 * `courier_message_dispatches` (one row per attempt: success, or failed with the error). Written once for
 * SQLite and PostgreSQL; every row carries the tenant (nid).
 *
 * `next_attempt_at` is when the message may be tried next; while a process sends it, it is that process's lease
 * (`claim_id` says whose): a process that dies mid-send leaves a `processing` row another takes over once the
 * lease has run out.
 */
import type { Migration } from 'tessera'

export const migrations: Migration[] = [
  {
    id: '0001_init',
    up: `
CREATE TABLE courier_messages (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  channel TEXT NOT NULL,
  status TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  html_body TEXT NOT NULL,
  template_type TEXT NOT NULL,
  template_id TEXT NOT NULL,
  template_data JSONB NOT NULL,
  locale TEXT NOT NULL,
  identity_id TEXT,
  send_count INTEGER NOT NULL,
  next_attempt_at TIMESTAMPTZ NOT NULL,
  claim_id TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE INDEX courier_messages_due_idx ON courier_messages (status, next_attempt_at);
CREATE INDEX courier_messages_recipient_idx ON courier_messages (nid, recipient, id);
CREATE INDEX courier_messages_status_idx ON courier_messages (nid, status, id);
CREATE TABLE courier_message_dispatches (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  status TEXT NOT NULL,
  error JSONB,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE INDEX courier_message_dispatches_message_idx ON courier_message_dispatches (nid, message_id);
`,
  },
  {
    // the development outbox (`outbox: true`): messages the courier delivered to itself, shown by the ui plugin
    id: '0002_outbox',
    up: `
CREATE TABLE courier_outbox (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE INDEX courier_outbox_created_idx ON courier_outbox (nid, created_at);
`,
  },
]
