import type { SchemaSnapshot } from "../schema/index.ts";
import type { Dialect, Executor, Statement, Store } from "../store/index.ts";
import type { ProfileWrite } from "./records.ts";
import { type FieldValue, valueToText } from "./values.ts";

const CHUNK_ROWS = 5_000;

/** Later writes to the same profile win field by field; fields a write does not name are kept. */
function mergeDuplicates(writes: readonly ProfileWrite[]): ProfileWrite[] {
  const byId = new Map<string, Map<string, FieldValue>>();
  for (const write of writes) {
    const values = byId.get(write.id);
    if (!values) byId.set(write.id, new Map(write.values));
    else for (const [path, value] of write.values) values.set(path, value);
  }
  return [...byId].map(([id, values]) => ({ id, values }));
}

/**
 * Upserts profiles by primary identity: new profiles are inserted; existing ones get exactly the
 * fields each write names (an explicit null clears), the rest keep their stored value. Writes that
 * name the same set of fields share one MERGE statement, since SET lists differ between sets.
 */
export async function upsertProfiles(
  store: Pick<Store, "dialect"> & Executor,
  schema: SchemaSnapshot,
  writes: readonly ProfileWrite[],
  now = new Date(),
): Promise<{ upserted: number }> {
  const merged = mergeDuplicates(writes);
  const groups = new Map<string, ProfileWrite[]>();
  for (const write of merged) {
    const signature = [...write.values.keys()].sort().join("\n");
    const group = groups.get(signature);
    if (group) group.push(write);
    else groups.set(signature, [write]);
  }
  const { dialect } = store;
  for (const [signature, group] of groups) {
    const fields = signature.split("\n").map((path) => {
      const field = schema.profileFields.get(path);
      if (!field) throw new Error(`Field '${path}' is not in the schema`);
      return field;
    });
    const columns = [
      { name: "_id", kind: "string" as const },
      ...fields.map((f) => ({ name: f.path, kind: f.type })),
    ];
    const set = fields.map((f) => `${dialect.ident(f.path)} = s.${dialect.ident(f.path)}`);
    const insertColumns = ["_id", "_created_at", "_updated_at", ...fields.map((f) => f.path)].map(
      dialect.ident,
    );
    const insertValues = ["s._id", "$1", "$1", ...fields.map((f) => `s.${dialect.ident(f.path)}`)];
    const sql = `MERGE INTO {profiles} AS t
      USING (${dialect.unnestColumns(columns, 2)}) AS s ON t._id = s._id
      WHEN MATCHED THEN UPDATE SET ${[...set, "_updated_at = $1"].join(", ")}
      WHEN NOT MATCHED THEN INSERT (${insertColumns.join(", ")}) VALUES (${insertValues.join(", ")})`;
    for (let start = 0; start < group.length; start += CHUNK_ROWS) {
      const chunk = group.slice(start, start + CHUNK_ROWS);
      const params: unknown[] = [now, chunk.map((w) => w.id)];
      for (const field of fields) {
        params.push(
          chunk.map((w) => valueToText(field, w.values.get(field.path) ?? null, dialect.arrayText)),
        );
      }
      await store.query(schema.sandbox, sql, params);
    }
  }
  return { upserted: merged.length };
}

/**
 * Creates the profiles of these primary identities that do not exist yet, holding only that
 * identity (an event may arrive before its profile); existing ones are left untouched. A statement
 * for `writeAll`, alone or beside the writes that need the profiles.
 */
export function createProfilesStatement(
  dialect: Dialect,
  schema: SchemaSnapshot,
  ids: readonly string[],
  now: Date,
): Statement {
  const path = schema.primaryIdentity.path;
  const columns = ["_id", "_created_at", "_updated_at", ...(path === "_id" ? [] : [path])].map(dialect.ident);
  const values = [
    "s._id",
    "CAST($1 AS TIMESTAMPTZ)",
    "CAST($1 AS TIMESTAMPTZ)",
    ...(path === "_id" ? [] : ["s._id"]),
  ];
  // NOT EXISTS skips those already stored; ON CONFLICT (PostgreSQL's key) one created meanwhile.
  const conflict = dialect.engine === "postgres" ? " ON CONFLICT (_id) DO NOTHING" : "";
  return {
    sql: `INSERT INTO {profiles} (${columns.join(", ")})
      SELECT ${values.join(", ")} FROM (${dialect.unnestColumns([{ name: "_id", kind: "string" }], 2)}) AS s
       WHERE NOT EXISTS (SELECT 1 FROM {profiles} AS p WHERE p._id = s._id)${conflict}`,
    params: [now, ids],
  };
}
