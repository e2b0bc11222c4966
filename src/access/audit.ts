import { randomUUID } from "node:crypto";
import { DEFAULT_SANDBOX, type Executor, type Statement } from "../store/index.ts";

/** Where changes to users, roles and tokens, which belong to no sandbox, are recorded. */
export const ACCESS_AUDIT_SANDBOX = DEFAULT_SANDBOX;

export interface AuditEntry {
  id: string;
  sandbox: string;
  occurredAt: Date;
  actor: string;
  action: string;
  resource: string;
  resourceId?: string;
  details: Record<string, unknown>;
}

/** An entry as callers give it: its id and (by default) its time are set when it is recorded. */
export type AuditInput = Omit<AuditEntry, "id" | "occurredAt"> & { occurredAt?: Date };

interface PendingAudit {
  entries: AuditEntry[];
  written: Promise<void>;
}

// Entries recorded through one executor in the same turn of the event loop, written together.
const pending = new WeakMap<Executor, PendingAudit>();

function complete(entry: AuditInput): AuditEntry {
  return { ...entry, id: randomUUID(), occurredAt: entry.occurredAt ?? new Date() };
}

const INSERT =
  "INSERT INTO audit_log (id, sandbox, occurred_at, actor, action, resource, resource_id, details)";

/** An entry's values, in INSERT's column order. */
function values(e: AuditEntry): unknown[] {
  return [
    e.id,
    e.sandbox,
    e.occurredAt,
    e.actor,
    e.action,
    e.resource,
    e.resourceId ?? null,
    JSON.stringify(e.details),
  ];
}

function insertStatement(entries: readonly AuditEntry[]): Statement {
  const rows = entries.map(
    (_, i) => `(${Array.from({ length: 8 }, (_, k) => `$${i * 8 + k + 1}`).join(", ")})`,
  );
  return { sql: `${INSERT} VALUES ${rows.join(", ")}`, params: entries.flatMap(values) };
}

/**
 * The entry as a statement of the sandbox it is run in (`$sandbox`), for a caller that writes it
 * atomically with the change it records (the streaming ingestion commits a request's audit entry
 * with its records: no commit of its own).
 */
export function auditStatement(entry: Omit<AuditInput, "sandbox">): Statement {
  const [id, , ...rest] = values(complete({ ...entry, sandbox: "" }));
  return { sql: `${INSERT} VALUES ($1, $sandbox, $2, $3, $4, $5, $6, $7)`, params: [id, ...rest] };
}

/**
 * Records who changed what, when, in which sandbox; resolves once it is written. Details must
 * never hold a secret. Entries recorded in the same turn of the event loop are written in one
 * statement.
 */
export function recordAudit(db: Executor, entry: AuditInput): Promise<AuditEntry> {
  const full = complete(entry);
  let batch = pending.get(db);
  if (!batch) {
    const entries: AuditEntry[] = [];
    const written = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      pending.delete(db);
      const { sql, params } = insertStatement(entries);
      await db.queryGlobal(sql, params);
    });
    batch = { entries, written };
    pending.set(db, batch);
  }
  batch.entries.push(full);
  return batch.written.then(() => full);
}

export async function listAudit(
  db: Executor,
  sandbox: string,
  options: { limit?: number; resource?: string } = {},
): Promise<AuditEntry[]> {
  const rows = await db.query<{
    id: string;
    sandbox: string;
    occurred_at: Date;
    actor: string;
    action: string;
    resource: string;
    resource_id: string | null;
    details: string;
  }>(
    sandbox,
    `SELECT * FROM audit_log WHERE sandbox = $sandbox AND ($1::TEXT IS NULL OR resource = $1)
     ORDER BY occurred_at DESC LIMIT $2`,
    [options.resource ?? null, options.limit ?? 100],
  );
  return rows.map((r) => ({
    id: r.id,
    sandbox: r.sandbox,
    occurredAt: r.occurred_at,
    actor: r.actor,
    action: r.action,
    resource: r.resource,
    ...(r.resource_id ? { resourceId: r.resource_id } : {}),
    details: JSON.parse(r.details) as Record<string, unknown>,
  }));
}

/**
 * Records a change to users, roles or tokens. They belong to no sandbox; their entries are filed
 * under the default sandbox, where `GET /v1/audit` (resource `user`, `role` or `token`) lists them.
 */
export function recordAccessChange(
  db: Executor,
  actor: string,
  action: string,
  resource: "user" | "role" | "token",
  resourceId: string,
  details: Record<string, unknown> = {},
): Promise<AuditEntry> {
  return recordAudit(db, { sandbox: ACCESS_AUDIT_SANDBOX, actor, action, resource, resourceId, details });
}
