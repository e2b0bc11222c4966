import type { Dialect, Executor, Statement, Store } from "../store/index.ts";

/** Every event type the sandbox has stored, by name (the `event_types` table). */
export async function listStoredEventTypes(db: Executor, sandbox: string): Promise<string[]> {
  const rows = await db.query<{ event_type: string }>(
    sandbox,
    "SELECT event_type FROM event_types WHERE sandbox = $sandbox ORDER BY event_type",
  );
  return rows.map((r) => r.event_type);
}

/**
 * The event types this process knows `event_types` holds, per sandbox, so that a write of events
 * records its types only when one of them is not known yet: once a sandbox's types are known, the
 * streaming commit (10,000 events/s) writes and reads nothing more for them.
 *
 * A type becomes known only by being read back from the table, never by being written: a write
 * that rolls back leaves nothing believed, and a type that this process or another one stored is
 * learned by the next batch holding it. That read runs before the batch's own writes, so what it
 * sees has committed (callers write no event types earlier in the same transaction). Two writers
 * recording the same new type meet in `ON CONFLICT DO NOTHING`.
 */
export class KnownEventTypes {
  private readonly bySandbox = new Map<string, Set<string>>();

  /**
   * The statement recording those of `types` that the table does not hold yet, for the caller's
   * write of the events themselves (one `writeAll`); undefined when the table holds them all.
   */
  async recordingStatement(
    db: Executor & { dialect: Dialect },
    sandbox: string,
    types: ReadonlySet<string>,
    now: Date,
  ): Promise<Statement | undefined> {
    const known = this.bySandbox.get(sandbox) ?? new Set<string>();
    this.bySandbox.set(sandbox, known);
    const unknown = [...types].filter((t) => !known.has(t));
    if (!unknown.length) return undefined;
    const stored = await db.query<{ event_type: string }>(
      sandbox,
      `SELECT event_type FROM event_types WHERE sandbox = $sandbox AND ${db.dialect.inTextList("event_type", 1)}`,
      [unknown],
    );
    for (const { event_type } of stored) known.add(event_type);
    // In one order for every writer: two PostgreSQL transactions recording the same new types then
    // wait for each other in turn instead of deadlocking.
    const missing = unknown.filter((t) => !known.has(t)).sort();
    if (!missing.length) return undefined;
    const source = db.dialect.unnestColumns([{ name: "event_type", kind: "string" }], 2);
    return {
      sql: `INSERT INTO event_types (sandbox, event_type, first_seen)
            SELECT CAST($sandbox AS TEXT), s.event_type, CAST($1 AS TIMESTAMPTZ) FROM (${source}) AS s
            ON CONFLICT DO NOTHING`,
      params: [now, missing],
    };
  }
}

// One per store: another store (a test's, a second database) holds other types.
const knownByStore = new WeakMap<Store, KnownEventTypes>();

/** This process's knowledge of the store's event types (see KnownEventTypes). */
export function knownEventTypes(store: Store): KnownEventTypes {
  let known = knownByStore.get(store);
  if (!known) {
    known = new KnownEventTypes();
    knownByStore.set(store, known);
  }
  return known;
}

/**
 * The statement a bulk load (DuckDB) runs after inserting its events: the types of `source`'s
 * `_type` column (a query over the load's own rows) that the table does not hold yet.
 */
export function recordLoadedTypesSql(source: string): string {
  return `INSERT INTO event_types (sandbox, event_type, first_seen)
          SELECT DISTINCT CAST($sandbox AS TEXT), _type, CAST($1 AS TIMESTAMPTZ) FROM (${source}) AS loaded
          ON CONFLICT DO NOTHING`;
}
