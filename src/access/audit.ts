import { randomUUID } from "node:crypto";
import type { Executor } from "../store/index.ts";

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

interface PendingAudit {
  entries: AuditEntry[];
  written: Promise<void>;
}

// Entries recorded through one executor in the same turn of the event loop, written together.
const pending = new WeakMap<Executor, PendingAudit>();

async function writeEntries(db: Executor, entries: readonly AuditEntry[]): Promise<void> {
  const rows = entries.map(
    (_, i) => `(${Array.from({ length: 8 }, (_, k) => `$${i * 8 + k + 1}`).join(", ")})`,
  );
  await db.queryGlobal(
    `INSERT INTO audit_log (id, sandbox, occurred_at, actor, action, resource, resource_id, details)
     VALUES ${rows.join(", ")}`,
    entries.flatMap((e) => [
      e.id,
      e.sandbox,
      e.occurredAt,
      e.actor,
      e.action,
      e.resource,
      e.resourceId ?? null,
      JSON.stringify(e.details),
    ]),
  );
}

/**
 * Records who changed what, when, in which sandbox; resolves once it is written. Details must
 * never hold a secret. Entries recorded in the same turn of the event loop (the requests one
 * streaming commit answers) are written in one statement.
 */
export function recordAudit(
  db: Executor,
  entry: Omit<AuditEntry, "id" | "occurredAt"> & { occurredAt?: Date },
): Promise<AuditEntry> {
  const full: AuditEntry = { ...entry, id: randomUUID(), occurredAt: entry.occurredAt ?? new Date() };
  let batch = pending.get(db);
  if (!batch) {
    const entries: AuditEntry[] = [];
    const written = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      pending.delete(db);
      return writeEntries(db, entries);
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
