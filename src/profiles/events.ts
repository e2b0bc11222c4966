import { randomUUID } from "node:crypto";
import type { Issue } from "../errors/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import type { Dialect, Executor, Statement, Store } from "../store/index.ts";
import type { KnownEventTypes } from "./event-types.ts";
import { suggestField } from "./suggest.ts";
import { createProfilesStatement } from "./upsert.ts";
import { coerceValue, type FieldValue, parseTimestamp, valueToText } from "./values.ts";

export interface EventWrite {
  type: string;
  timestamp: Date;
  identity: { namespace: string; value: string };
  /** The typed properties given, by field path (no prototype: a name is only ever a field's). */
  properties: Readonly<Record<string, FieldValue>>;
}

const EVENT_KEYS = new Set(["type", "timestamp", "identity", "properties"]);
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Validates `{type, timestamp, identity: {namespace: value}, properties}`; issues name each field. */
export function validateEvent(
  schema: SchemaSnapshot,
  record: unknown,
  row: number,
): { write: EventWrite } | { issues: Issue[] } {
  if (!isPlainObject(record)) return { issues: [{ row, message: "an event must be a JSON object" }] };
  const issues: Issue[] = [];
  // for...in rather than Object.keys/entries here and below: no array per record on the ingestion path.
  for (const key in record) {
    if (!EVENT_KEYS.has(key)) {
      issues.push({
        row,
        field: key,
        message: `unknown field '${key}' (an event has type, timestamp, identity, properties)`,
      });
    }
  }
  const { type, timestamp, identity, properties = {} } = record;
  if (typeof type !== "string" || !EVENT_TYPE.test(type)) {
    issues.push({
      row,
      field: "type",
      message: "type: required, dot-separated names such as commerce.purchases",
    });
  }
  const when = typeof timestamp === "string" ? parseTimestamp(timestamp) : undefined;
  if (!when)
    issues.push({
      row,
      field: "timestamp",
      message: `timestamp: expected an ISO 8601 timestamp, got ${JSON.stringify(timestamp)}`,
    });
  let resolved: EventWrite["identity"] | undefined;
  let namespace: string | undefined;
  let namespaces = 0;
  if (isPlainObject(identity)) {
    for (const key in identity) {
      namespace ??= key;
      namespaces++;
    }
  }
  if (!isPlainObject(identity) || namespaces !== 1 || namespace === undefined) {
    issues.push({
      row,
      field: "identity",
      message: 'missing identity: give exactly one, e.g. {"email": "ann@example.com"}',
    });
  } else {
    const value = identity[namespace];
    if (!schema.identities.has(namespace)) {
      issues.push({
        row,
        field: `identity.${namespace}`,
        message: `unknown identity namespace '${namespace}' (known: ${[...schema.identities.keys()].join(", ")})`,
      });
    } else if (typeof value !== "string" || value.trim() === "") {
      issues.push({
        row,
        field: `identity.${namespace}`,
        message: `identity.${namespace}: expected a non-empty string`,
      });
    } else resolved = { namespace, value };
  }
  const values: Record<string, FieldValue> = Object.create(null);
  if (!isPlainObject(properties))
    issues.push({ row, field: "properties", message: "properties: expected an object" });
  else {
    for (const name in properties) {
      const raw = properties[name];
      const field = schema.eventFields.get(name);
      if (!field) {
        const hint = suggestField(name, [...schema.eventFields.keys()]);
        issues.push({
          row,
          field: `properties.${name}`,
          message: `unknown event property '${name}'${hint ? `; did you mean '${hint}'?` : ""}`,
        });
        continue;
      }
      const coerced = coerceValue(field.type, raw, "json");
      if (coerced.ok) values[name] = coerced.value;
      else
        issues.push({ row, field: `properties.${name}`, message: `properties.${name}: ${coerced.reason}` });
    }
  }
  if (issues.length || !resolved || !when) return { issues };
  return { write: { type: type as string, timestamp: when, identity: resolved, properties: values } };
}

/**
 * Resolves each event's identity to a profile id. An event keyed by the primary identity of an
 * unknown profile creates that profile (events often arrive first); any other unknown identity is
 * rejected, since it cannot be attached to anyone. Primary identities in `lookedUp` are not
 * looked up again.
 */
async function resolveProfiles(
  db: Pick<Store, "dialect"> & Executor,
  schema: SchemaSnapshot,
  events: readonly { write: EventWrite; row: number }[],
  lookedUp?: LookedUp,
): Promise<{ ids: (string | undefined)[]; issues: Issue[]; created: string[] }> {
  const ids: (string | undefined)[] = [];
  const issues: Issue[] = [];
  const primaryNamespace = schema.primaryIdentity.namespace;
  const lookups = new Map<string, Map<string, string>>();
  for (const { write } of events) {
    if (write.identity.namespace === primaryNamespace) continue;
    const set = lookups.get(write.identity.namespace) ?? new Map<string, string>();
    set.set(write.identity.value, "");
    lookups.set(write.identity.namespace, set);
  }
  for (const [namespace, values] of lookups) {
    const field = schema.identities.get(namespace);
    if (!field) continue;
    const column = `"${field.path}"`;
    const rows = await db.query<{ _id: string; v: string }>(
      schema.sandbox,
      `SELECT _id, ${column} AS v FROM {profiles} WHERE ${db.dialect.inTextList(column, 1)}`,
      [[...values.keys()]],
    );
    for (const r of rows) values.set(r.v, r._id);
  }
  const known = new Set<string>(lookedUp?.found);
  const primaryIds = [
    ...new Set(
      events
        .filter(
          (e) =>
            e.write.identity.namespace === primaryNamespace && !lookedUp?.ids.has(e.write.identity.value),
        )
        .map((e) => e.write.identity.value),
    ),
  ];
  if (primaryIds.length) {
    const rows = await db.query<{ _id: string }>(
      schema.sandbox,
      `SELECT _id FROM {profiles} WHERE ${db.dialect.inTextList("_id", 1)}`,
      [primaryIds],
    );
    for (const r of rows) known.add(r._id);
  }
  const created = new Set<string>();
  for (const { write, row } of events) {
    const { namespace, value } = write.identity;
    if (namespace === primaryNamespace) {
      ids.push(value);
      if (!known.has(value)) created.add(value);
      continue;
    }
    const id = lookups.get(namespace)?.get(value) || undefined;
    if (!id)
      issues.push({
        row,
        field: `identity.${namespace}`,
        message: `no profile has identity ${namespace}:${value}`,
      });
    ids.push(id);
  }
  return { ids, issues, created: [...created] };
}

/** Primary identities a caller has just looked up in the same transaction, and those it found. */
export interface LookedUp {
  ids: ReadonlySet<string>;
  found: ReadonlySet<string>;
}

export interface InsertedEvents {
  inserted: number;
  /** Events whose identity is unknown, by row. */
  issues: Issue[];
  profileIds: string[];
  /** The profile each event went to, in the order given; undefined for a rejected one. */
  resolved: (string | undefined)[];
  /** Profiles these events created (primary identities no profile had). */
  created: string[];
}

/** What writing a group of resolved events takes: its statements, and what they will have written. */
export interface EventWrites extends InsertedEvents {
  /**
   * Creating the new profiles, appending the events, then recording event types the sandbox had
   * not stored before: for `writeAll` (so all or none of them commit), or one after the other in
   * a transaction.
   */
  statements: Statement[];
}

/**
 * Resolves events to their profiles (see resolveProfiles) and prepares their writes without running
 * them: the caller runs the statements, alone or with writes of its own in one `writeAll`.
 * `knownTypes`: the store's (knownEventTypes). `lookedUp`: primary identities the caller has just
 * read, so they are not looked up again.
 */
export async function prepareEventWrites(
  store: Pick<Store, "dialect"> & Executor,
  schema: SchemaSnapshot,
  events: readonly { write: EventWrite; row: number }[],
  knownTypes: KnownEventTypes,
  now = new Date(),
  lookedUp?: LookedUp,
): Promise<EventWrites> {
  if (!events.length)
    return { inserted: 0, issues: [], profileIds: [], resolved: [], created: [], statements: [] };
  const { ids, issues, created } = await resolveProfiles(store, schema, events, lookedUp);
  const statements: Statement[] = [];
  if (created.length) statements.push(createProfilesStatement(store.dialect, schema, created, now));
  const kept = events.map((e, i) => ({ ...e, profileId: ids[i] })).filter((e) => e.profileId !== undefined);
  if (kept.length) {
    statements.push(eventsStatement(store.dialect, schema, kept, now));
    const types = new Set<string>();
    for (const e of kept) types.add(e.write.type);
    const recording = await knownTypes.recordingStatement(store, schema.sandbox, types, now);
    if (recording) statements.push(recording);
  }
  return {
    inserted: kept.length,
    issues,
    profileIds: [...new Set(kept.map((e) => e.profileId as string))],
    resolved: ids,
    created,
    statements,
  };
}

/** Appends events (they are never updated), creating the profiles they name first; see prepareEventWrites. */
export async function insertEvents(
  store: Pick<Store, "dialect"> & Executor,
  schema: SchemaSnapshot,
  events: readonly { write: EventWrite; row: number }[],
  knownTypes: KnownEventTypes,
  now = new Date(),
  lookedUp?: LookedUp,
): Promise<InsertedEvents> {
  const { statements, ...inserted } = await prepareEventWrites(
    store,
    schema,
    events,
    knownTypes,
    now,
    lookedUp,
  );
  await store.writeAll(schema.sandbox, statements);
  return inserted;
}

function eventsStatement(
  dialect: Dialect,
  schema: SchemaSnapshot,
  kept: readonly { write: EventWrite; profileId?: string | undefined }[],
  now: Date,
): Statement {
  const fields = [...schema.eventFields.values()].filter((f) =>
    kept.some((e) => f.path in e.write.properties),
  );
  const columns = [
    { name: "_id", kind: "string" as const },
    { name: "_profile_id", kind: "string" as const },
    { name: "_type", kind: "string" as const },
    { name: "_ts", kind: "timestamp" as const },
    ...fields.map((f) => ({ name: f.path, kind: f.type })),
  ];
  const params: unknown[] = [
    now,
    kept.map(() => randomUUID()),
    kept.map((e) => e.profileId),
    kept.map((e) => e.write.type),
    kept.map((e) => e.write.timestamp.toISOString()),
    ...fields.map((f) =>
      kept.map((e) => valueToText(f, e.write.properties[f.path] ?? null, dialect.arrayText)),
    ),
  ];
  const names = [...columns.map((c) => c.name), "_ingested_at"].map(dialect.ident).join(", ");
  return {
    sql: `INSERT INTO {events} (${names}) SELECT *, $1 FROM (${dialect.unnestColumns(columns, 2)}) AS s`,
    params,
  };
}
