import { validationError } from "../../errors/index.ts";
import type { Field, SchemaSnapshot } from "../../schema/index.ts";
import { suggestField } from "../suggest.ts";

/** A profile file's column: the schema field it fills. */
export interface ProfileColumn {
  index: number;
  field: Field;
}

/** What an events file's column holds. */
export type EventColumn =
  | { index: number; role: "type" }
  | { index: number; role: "timestamp" }
  | { index: number; role: "identity"; namespace: string }
  | { index: number; role: "property"; field: Field };

function unknownColumn(file: string, name: string, known: readonly string[], what: string) {
  const hint = suggestField(name, known);
  return validationError(
    `${file}: unknown column '${name}' in the header${hint ? `; did you mean '${hint}'?` : ""} (${what})`,
    [{ row: 0, field: name, message: `unknown column '${name}'${hint ? `; did you mean '${hint}'?` : ""}` }],
    "unknown_column",
  );
}

function checkDuplicates(file: string, header: readonly string[]) {
  const seen = new Set<string>();
  for (const name of header) {
    if (seen.has(name))
      throw validationError(`${file}: column '${name}' appears twice in the header`, [
        { row: 0, field: name, message: "duplicate column" },
      ]);
    seen.add(name);
  }
}

/**
 * Maps a profiles header to schema fields: each column is a profile field path
 * (`personalEmail.address`, `person.name.firstName`), and the primary identity's column is required.
 */
export function profileColumns(
  schema: SchemaSnapshot,
  header: readonly string[],
  file: string,
): ProfileColumn[] {
  checkDuplicates(file, header);
  const known = [...schema.profileFields.keys()];
  const columns = header.map((name, index) => {
    const field = schema.profileFields.get(name.trim());
    if (!field)
      throw unknownColumn(file, name, known, "columns are profile field paths such as person.name.firstName");
    return { index, field };
  });
  const primary = schema.primaryIdentity.path;
  if (!columns.some((c) => c.field.path === primary)) {
    throw validationError(
      `${file}: the header has no '${primary}' column: profiles are keyed by the primary identity (${schema.primaryIdentity.namespace})`,
      [{ row: 0, field: primary, message: "missing primary identity column" }],
      "missing_identity_column",
    );
  }
  return columns;
}

/**
 * Maps an events header: `type`, `timestamp`, one or more `identity.<namespace>` columns
 * (`identity.email`), and event properties by name (`priceTotal`, or `properties.priceTotal`).
 */
export function eventColumns(schema: SchemaSnapshot, header: readonly string[], file: string): EventColumn[] {
  checkDuplicates(file, header);
  const known = [
    "type",
    "timestamp",
    ...[...schema.identities.keys()].map((ns) => `identity.${ns}`),
    ...schema.eventFields.keys(),
  ];
  const columns = header.map((raw, index): EventColumn => {
    const name = raw.trim();
    if (name === "type") return { index, role: "type" };
    if (name === "timestamp") return { index, role: "timestamp" };
    if (name.startsWith("identity.")) {
      const namespace = name.slice("identity.".length);
      if (!schema.identities.has(namespace))
        throw unknownColumn(file, name, known, "identity columns are identity.<namespace>");
      return { index, role: "identity", namespace };
    }
    const property = name.startsWith("properties.") ? name.slice("properties.".length) : name;
    const field = schema.eventFields.get(property);
    if (!field)
      throw unknownColumn(
        file,
        name,
        known,
        "columns are type, timestamp, identity.<namespace> and event properties",
      );
    return { index, role: "property", field };
  });
  const missing = ["type", "timestamp"].filter((role) => !columns.some((c) => c.role === role));
  if (!columns.some((c) => c.role === "identity")) missing.push("identity.<namespace>");
  if (missing.length) {
    throw validationError(
      `${file}: the header lacks ${missing.map((m) => `'${m}'`).join(", ")}: an events file has type, timestamp and an identity column`,
      missing.map((m) => ({ row: 0, field: m, message: "missing column" })),
      "missing_column",
    );
  }
  return columns;
}
