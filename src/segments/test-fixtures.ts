import {
  defaultSchema,
  type Field,
  type FieldDefinitionInput,
  fieldDefinitionSchema,
  type SchemaSnapshot,
} from "../schema/index.ts";

/** Fields added to the default schema in segment tests, to cover every type. */
export const extraTestFields: FieldDefinitionInput[] = [
  { path: "loyalty.member", type: "boolean" },
  { path: "loyalty.score", type: "number" },
  { path: "lastSeen", type: "timestamp" },
  { entity: "event", path: "shippedAt", type: "timestamp" },
  { entity: "event", path: "gift", type: "boolean" },
];

/** A SchemaSnapshot built from field definitions, as `loadSchema` would return it. */
export function snapshotOf(definitions: FieldDefinitionInput[], sandbox = "test"): SchemaSnapshot {
  const fields: Field[] = definitions.map((d) => {
    const f = fieldDefinitionSchema.parse(d);
    return { ...f, labels: f.labels } as Field;
  });
  const primaryIdentity = fields.find((f) => f.primary);
  if (!primaryIdentity) throw new Error("test schema needs a primary identity");
  return {
    sandbox,
    profileFields: new Map(fields.filter((f) => f.entity === "profile").map((f) => [f.path, f])),
    eventFields: new Map(fields.filter((f) => f.entity === "event").map((f) => [f.path, f])),
    primaryIdentity,
    identities: new Map(fields.filter((f) => f.namespace).map((f) => [f.namespace as string, f])),
  };
}

export const testFields: FieldDefinitionInput[] = [...defaultSchema, ...extraTestFields];
export const testSchema: SchemaSnapshot = snapshotOf(testFields);
