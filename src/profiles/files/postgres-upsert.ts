import type { SchemaSnapshot } from "../../schema/index.ts";
import type { Store } from "../../store/index.ts";
import type { ProfileWrite } from "../records.ts";
import { valueToText } from "../values.ts";
import type { ProfileColumn } from "./columns.ts";

/**
 * Upserts a batch of a file's profile rows on PostgreSQL in one statement: every column of the
 * file at once, a cell not given (NULL) keeping the stored value (`coalesce`), which is what a file
 * can express. Rows for the same profile are first merged in order, field by field, as
 * `upsertProfiles` merges them (PostgreSQL cannot update one row twice in a statement).
 */
export async function upsertFileProfiles(
  store: Store,
  schema: SchemaSnapshot,
  columns: readonly ProfileColumn[],
  writes: readonly ProfileWrite[],
  now: Date,
): Promise<void> {
  const byId = new Map<string, ProfileWrite["values"]>();
  for (const write of writes) {
    const values = byId.get(write.id);
    if (!values) byId.set(write.id, new Map(write.values));
    else for (const [path, value] of write.values) values.set(path, value);
  }
  const { dialect } = store;
  const fields = columns.map((c) => c.field);
  const names = fields.map((f) => dialect.ident(f.path));
  const source = dialect.unnestColumns(
    [{ name: "_id", kind: "string" }, ...fields.map((f) => ({ name: f.path, kind: f.type }))],
    2,
  );
  const ids = [...byId.keys()];
  const params: unknown[] = [now, ids];
  for (const field of fields)
    params.push(
      ids.map((id) => valueToText(field, byId.get(id)?.get(field.path) ?? null, dialect.arrayText)),
    );
  await store.query(
    schema.sandbox,
    `INSERT INTO {profiles} AS t (_id, _created_at, _updated_at, ${names.join(", ")})
     SELECT s._id, $1, $1, ${names.map((n) => `s.${n}`).join(", ")} FROM (${source}) AS s
     ON CONFLICT (_id) DO UPDATE SET ${[...names.map((n) => `${n} = coalesce(EXCLUDED.${n}, t.${n})`), "_updated_at = $1"].join(", ")}`,
    params,
  );
}
