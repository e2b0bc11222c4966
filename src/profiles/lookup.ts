import { notFound, validationError } from "../errors/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import type { Executor, Row, Store } from "../store/index.ts";
import { nestByPath } from "./records.ts";

export interface ProfileView {
  id: string;
  createdAt: Date;
  updatedAt: Date;
  identities: Record<string, string>;
  attributes: Record<string, unknown>;
  events: { id: string; type: string; timestamp: Date; properties: Record<string, unknown> }[];
}

/** Parses `namespace:value` (the value may itself contain ':'). */
export function parseIdentity(text: string, schema: SchemaSnapshot): { namespace: string; value: string } {
  const colon = text.indexOf(":");
  const namespace = colon > 0 ? text.slice(0, colon) : "";
  const value = colon > 0 ? text.slice(colon + 1) : "";
  if (!namespace || !value) {
    throw validationError("identity must be namespace:value, e.g. email:ann@example.com", [
      { field: "identity", message: "expected namespace:value" },
    ]);
  }
  if (!schema.identities.has(namespace)) {
    throw validationError(
      `unknown identity namespace '${namespace}' (known: ${[...schema.identities.keys()].join(", ")})`,
      [{ field: "identity", message: `unknown namespace '${namespace}'` }],
    );
  }
  return { namespace, value };
}

/** A profile by any of its identities, with its most recent events (newest first). */
export async function lookupProfile(
  db: Pick<Store, "dialect"> & Executor,
  schema: SchemaSnapshot,
  identity: { namespace: string; value: string },
  eventLimit = 50,
): Promise<ProfileView> {
  const field = schema.identities.get(identity.namespace);
  if (!field) throw notFound("identity namespace", identity.namespace);
  const column = db.dialect.ident(field.path);
  const [row] = await db.query<Row>(schema.sandbox, `SELECT * FROM {profiles} WHERE ${column} = $1 LIMIT 1`, [
    identity.value,
  ]);
  if (!row) throw notFound("profile", `${identity.namespace}:${identity.value}`);
  const id = row._id as string;
  const events = await db.query<Row>(
    schema.sandbox,
    `SELECT * FROM {events} WHERE _profile_id = $1 ORDER BY _ts DESC, _ingested_at DESC LIMIT $2`,
    [id, eventLimit],
  );
  const identities: Record<string, string> = {};
  for (const [namespace, f] of schema.identities) {
    const value = row[f.path];
    if (typeof value === "string") identities[namespace] = value;
  }
  const attributes = nestByPath(
    [...schema.profileFields.keys()]
      .filter((p) => row[p] !== null && row[p] !== undefined)
      .map((p) => [p, row[p]]),
  );
  return {
    id,
    createdAt: row._created_at as Date,
    updatedAt: row._updated_at as Date,
    identities,
    attributes,
    events: events.map((e) => ({
      id: e._id as string,
      type: e._type as string,
      timestamp: e._ts as Date,
      properties: Object.fromEntries(
        [...schema.eventFields.keys()]
          .filter((p) => e[p] !== null && e[p] !== undefined)
          .map((p) => [p, e[p]]),
      ),
    })),
  };
}
