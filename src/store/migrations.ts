import type { Engine, Executor } from "./types.ts";

/**
 * Versioned migrations, applied in order at start. Each part owns its tables and its own list
 * (`part` + `version` identify a migration); the store's list holds the shared tables. Each sandbox's
 * typed tables (profiles, events) are created by `createSandbox` and grow with the schema registry.
 * Append new migrations; never edit one that has shipped.
 */
export interface Migration {
  version: number;
  name: string;
  statements: (engine: Engine) => string[];
  /**
   * Data to move once the statements have run, in the same transaction: for what one fixed
   * statement cannot reach, such as every sandbox's own tables (a backfill from their events).
   */
  backfill?: (db: Executor, engine: Engine) => Promise<void>;
}

export const storeMigrations: Migration[] = [
  {
    version: 1,
    name: "sandboxes, schema fields, audit log",
    statements: () => [
      `CREATE TABLE sandboxes (
         name TEXT PRIMARY KEY,
         title TEXT NOT NULL,
         created_at TIMESTAMPTZ NOT NULL
       )`,
      `CREATE TABLE schema_fields (
         sandbox TEXT NOT NULL,
         entity TEXT NOT NULL,
         path TEXT NOT NULL,
         type TEXT NOT NULL,
         namespace TEXT,
         is_primary BOOLEAN NOT NULL DEFAULT FALSE,
         labels TEXT NOT NULL DEFAULT '[]',
         description TEXT,
         created_at TIMESTAMPTZ NOT NULL,
         PRIMARY KEY (sandbox, entity, path)
       )`,
      `CREATE TABLE audit_log (
         id TEXT PRIMARY KEY,
         sandbox TEXT NOT NULL,
         occurred_at TIMESTAMPTZ NOT NULL,
         actor TEXT NOT NULL,
         action TEXT NOT NULL,
         resource TEXT NOT NULL,
         resource_id TEXT,
         details TEXT NOT NULL DEFAULT '{}'
       )`,
    ],
  },
];

export async function migrate(
  db: Executor,
  engine: Engine,
  part = "store",
  migrations: readonly Migration[] = storeMigrations,
): Promise<number[]> {
  await db.queryGlobal(
    `CREATE TABLE IF NOT EXISTS herald_migrations (
       part TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL,
       PRIMARY KEY (part, version))`,
  );
  const done = new Set(
    (
      await db.queryGlobal<{ version: number }>("SELECT version FROM herald_migrations WHERE part = $1", [
        part,
      ])
    ).map((r) => r.version),
  );
  const applied: number[] = [];
  for (const migration of migrations) {
    if (done.has(migration.version)) continue;
    for (const statement of migration.statements(engine)) await db.queryGlobal(statement);
    await migration.backfill?.(db, engine);
    await db.queryGlobal(
      "INSERT INTO herald_migrations (part, version, name, applied_at) VALUES ($1, $2, $3, $4)",
      [part, migration.version, migration.name, new Date()],
    );
    applied.push(migration.version);
  }
  return applied;
}
