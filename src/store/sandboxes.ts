import { conflict, notFound, validationError } from "../errors/index.ts";
import { isValidSandboxName, sandboxSchema } from "./dialect.ts";
import type { Store } from "./types.ts";

export interface Sandbox {
  name: string;
  title: string;
  createdAt: Date;
}

export const DEFAULT_SANDBOX = "prod";

/**
 * Creates a sandbox: its row, and its own schema with bare profile and event tables. The schema
 * registry adds the typed columns. Profiles are keyed by `_id`, the primary identity's value.
 */
export async function createSandbox(store: Store, name: string, title = name): Promise<Sandbox> {
  if (!isValidSandboxName(name)) {
    throw validationError(
      `Sandbox name '${name}' is invalid: use 1-31 lower-case letters, digits or '_', starting with a letter`,
      [{ field: "name", message: "invalid sandbox name" }],
    );
  }
  const existing = await store.queryGlobal("SELECT name FROM sandboxes WHERE name = $1", [name]);
  if (existing.length) throw conflict("sandbox_exists", `Sandbox '${name}' already exists`);
  const schema = store.dialect.ident(sandboxSchema(name));
  const key = store.engine === "postgres" ? "PRIMARY KEY" : "NOT NULL";
  const createdAt = new Date();
  await store.transaction(async (tx) => {
    await tx.queryGlobal(`CREATE SCHEMA ${schema}`);
    // DuckDB keeps no index on profiles: bulk upserts go through MERGE, which joins instead.
    await tx.query(
      name,
      `CREATE TABLE {profiles} (_id TEXT ${key}, _created_at TIMESTAMPTZ NOT NULL, _updated_at TIMESTAMPTZ NOT NULL)`,
    );
    await tx.query(
      name,
      `CREATE TABLE {events} (_id TEXT NOT NULL, _profile_id TEXT NOT NULL, _type TEXT NOT NULL,
         _ts TIMESTAMPTZ NOT NULL, _ingested_at TIMESTAMPTZ NOT NULL)`,
    );
    if (store.engine === "postgres") {
      await tx.query(name, `CREATE INDEX ON {events} (_profile_id, _ts)`);
    }
    await tx.queryGlobal("INSERT INTO sandboxes (name, title, created_at) VALUES ($1, $2, $3)", [
      name,
      title,
      createdAt,
    ]);
  });
  return { name, title, createdAt };
}

export async function listSandboxes(store: Store): Promise<Sandbox[]> {
  const rows = await store.queryGlobal<{ name: string; title: string; created_at: Date }>(
    "SELECT name, title, created_at FROM sandboxes ORDER BY name",
  );
  return rows.map((r) => ({ name: r.name, title: r.title, createdAt: r.created_at }));
}

// Sandboxes are never deleted: one found stays found, so each is looked up once per store.
const knownSandboxes = new WeakMap<Store, Set<string>>();

export async function requireSandbox(store: Store, name: string): Promise<void> {
  const known = knownSandboxes.get(store) ?? new Set<string>();
  knownSandboxes.set(store, known);
  if (known.has(name)) return;
  const rows = await store.queryGlobal("SELECT name FROM sandboxes WHERE name = $1", [name]);
  if (!rows.length) throw notFound("sandbox", name);
  known.add(name);
}
