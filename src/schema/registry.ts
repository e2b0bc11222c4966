import { conflict, HeraldError, notFound, parseInput } from "../errors/index.ts";
import type { Executor, Store } from "../store/index.ts";
import { defaultSchema } from "./default-schema.ts";
import {
  type Field,
  type FieldDefinitionInput,
  type FieldEntity,
  type FieldType,
  fieldDefinitionSchema,
  type SchemaSnapshot,
} from "./types.ts";

interface FieldRow {
  entity: FieldEntity;
  path: string;
  type: FieldType;
  namespace: string | null;
  is_primary: boolean;
  labels: string;
  description: string | null;
}

function toField(row: FieldRow): Field {
  return {
    path: row.path,
    type: row.type,
    entity: row.entity,
    ...(row.namespace ? { namespace: row.namespace } : {}),
    primary: row.is_primary,
    labels: JSON.parse(row.labels) as string[],
    ...(row.description ? { description: row.description } : {}),
  };
}

export async function listFields(db: Executor, sandbox: string): Promise<Field[]> {
  const rows = await db.query<FieldRow>(
    sandbox,
    `SELECT entity, path, type, namespace, is_primary, labels, description
       FROM schema_fields WHERE sandbox = $sandbox ORDER BY entity DESC, created_at, path`,
  );
  return rows.map(toField);
}

const RECENT_MS = 1_000;
type RecentCopy = { schema: Promise<SchemaSnapshot>; loadedAt: number };
const recentSchemas = new WeakMap<Executor, Map<string, RecentCopy>>();

/**
 * The sandbox's schema as loaded at most a second ago, for paths that need it on every request
 * (ingestion). Fields are only ever added: a copy lacks at most the fields added since, and one
 * added through `addField` on the same store is seen at once. Requests arriving while a load runs
 * share it (at 200 requests a second, each expiry used to start several identical loads).
 */
export function recentSchema(db: Executor, sandbox: string): Promise<SchemaSnapshot> {
  const copies = recentSchemas.get(db) ?? new Map<string, RecentCopy>();
  recentSchemas.set(db, copies);
  const copy = copies.get(sandbox);
  if (copy && performance.now() - copy.loadedAt < RECENT_MS) return copy.schema;
  const schema = loadSchema(db, sandbox);
  copies.set(sandbox, { schema, loadedAt: performance.now() });
  // A failed load is not kept: the next request tries again.
  schema.catch(() => {
    if (copies.get(sandbox)?.schema === schema) copies.delete(sandbox);
  });
  return schema;
}

/** The sandbox's schema as ingestion, segments and exports use it. */
export async function loadSchema(db: Executor, sandbox: string): Promise<SchemaSnapshot> {
  const fields = await listFields(db, sandbox);
  const profileFields = new Map(fields.filter((f) => f.entity === "profile").map((f) => [f.path, f]));
  const eventFields = new Map(fields.filter((f) => f.entity === "event").map((f) => [f.path, f]));
  const primaryIdentity = fields.find((f) => f.primary);
  if (!primaryIdentity) {
    throw new HeraldError(
      "conflict",
      "no_primary_identity",
      `Sandbox '${sandbox}' has no primary identity field yet`,
    );
  }
  const identities = new Map(
    fields.filter((f) => f.entity === "profile" && f.namespace).map((f) => [f.namespace as string, f]),
  );
  return { sandbox, profileFields, eventFields, primaryIdentity, identities };
}

/** Why a new field cannot join the existing ones, or undefined when it can. */
function conflictWith(field: Field, existing: Field[]): string | undefined {
  for (const other of existing.filter((f) => f.entity === field.entity)) {
    if (other.path === field.path) return `field '${field.path}' already exists`;
    // A path cannot be both a value and an object: `person.name` and `person.name.firstName`.
    if (other.path.startsWith(`${field.path}.`) || field.path.startsWith(`${other.path}.`)) {
      return `field '${field.path}' overlaps '${other.path}': a path cannot be both a value and an object`;
    }
  }
  if (field.entity === "event" && (field.namespace || field.primary)) {
    return "event properties cannot be identities";
  }
  if (field.namespace && existing.some((f) => f.namespace === field.namespace)) {
    return `identity namespace '${field.namespace}' is already used by another field`;
  }
  if (field.primary) {
    if (!field.namespace) return "the primary identity needs an identity namespace";
    if (field.type !== "string") return "the primary identity must be a string field";
    const current = existing.find((f) => f.primary);
    if (current) return `the primary identity is already '${current.path}'; there is exactly one`;
  }
  return undefined;
}

/**
 * Registers a field and adds its typed column to the sandbox's profiles or events table, in one
 * transaction. Fields are only added: removing a column would silently drop customer data.
 */
export async function addField(store: Store, sandbox: string, input: FieldDefinitionInput): Promise<Field> {
  const definition = parseInput(fieldDefinitionSchema, input, "field");
  const field: Field = {
    path: definition.path,
    type: definition.type,
    entity: definition.entity,
    ...(definition.namespace ? { namespace: definition.namespace } : {}),
    primary: definition.primary,
    labels: definition.labels,
    ...(definition.description ? { description: definition.description } : {}),
  };
  const added = await store.transaction(async (tx) => {
    const problem = conflictWith(field, await listFields(tx, sandbox));
    if (problem) throw conflict("field_conflict", `Cannot add field: ${problem}`);
    const table = field.entity === "profile" ? "{profiles}" : "{events}";
    await tx.query(
      sandbox,
      `ALTER TABLE ${table} ADD COLUMN ${store.dialect.ident(field.path)} ${store.dialect.columnType(field.type)}`,
    );
    if (store.engine === "postgres" && field.namespace) {
      await tx.query(sandbox, `CREATE INDEX ON ${table} (${store.dialect.ident(field.path)})`);
    }
    await tx.query(
      sandbox,
      `INSERT INTO schema_fields (sandbox, entity, path, type, namespace, is_primary, labels, description, created_at)
       VALUES ($sandbox, $1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        field.entity,
        field.path,
        field.type,
        field.namespace ?? null,
        field.primary,
        JSON.stringify(field.labels),
        field.description ?? null,
        new Date(),
      ],
    );
    return field;
  });
  recentSchemas.get(store)?.delete(sandbox);
  return added;
}

/**
 * Replaces a field's data-usage labels (their names are checked by the caller: governance knows
 * the sandbox's custom labels). The field's type and column stay.
 */
export async function setFieldLabels(
  db: Executor,
  sandbox: string,
  field: Pick<Field, "entity" | "path">,
  labels: readonly string[],
): Promise<Field> {
  const [row] = await db.query<FieldRow>(
    sandbox,
    `UPDATE schema_fields SET labels = $1 WHERE sandbox = $sandbox AND entity = $2 AND path = $3
     RETURNING entity, path, type, namespace, is_primary, labels, description`,
    [JSON.stringify([...new Set(labels)]), field.entity, field.path],
  );
  if (!row) throw notFound(`${field.entity} field`, field.path);
  recentSchemas.get(db)?.delete(sandbox);
  return toField(row);
}

/** Gives a sandbox the default customer-profile schema if it has no fields yet. */
export async function installDefaultSchema(store: Store, sandbox: string): Promise<boolean> {
  if ((await listFields(store, sandbox)).length > 0) return false;
  for (const field of defaultSchema) await addField(store, sandbox, field);
  return true;
}
