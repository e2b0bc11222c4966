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

/** Records who changed what, when, in which sandbox. Details must never hold a secret. */
export async function recordAudit(
  db: Executor,
  entry: Omit<AuditEntry, "id" | "occurredAt"> & { occurredAt?: Date },
): Promise<AuditEntry> {
  const full: AuditEntry = { ...entry, id: randomUUID(), occurredAt: entry.occurredAt ?? new Date() };
  await db.query(
    full.sandbox,
    `INSERT INTO audit_log (id, sandbox, occurred_at, actor, action, resource, resource_id, details)
     VALUES ($1, $sandbox, $2, $3, $4, $5, $6, $7)`,
    [
      full.id,
      full.occurredAt,
      full.actor,
      full.action,
      full.resource,
      full.resourceId ?? null,
      JSON.stringify(full.details),
    ],
  );
  return full;
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
