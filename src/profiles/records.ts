import type { Issue } from "../errors/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import { suggestField } from "./suggest.ts";
import { coerceValue, type FieldValue } from "./values.ts";

/** A validated profile write: the fields it sets (an explicit null clears), keyed by path. */
export interface ProfileWrite {
  id: string;
  values: Map<string, FieldValue>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Flattens an XDM-style nested object to `path → raw value`, following the schema's paths. */
export function flattenByPath(
  record: Record<string, unknown>,
  prefix = "",
  out = new Map<string, unknown>(),
) {
  for (const [key, value] of Object.entries(record)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(value)) flattenByPath(value, path, out);
    else out.set(path, value);
  }
  return out;
}

/**
 * Validates one profile given as a nested object (or already flat, `{"person.name.firstName": ...}`).
 * Returns the write, or the issues naming each field at fault; `row` numbers the record in its batch.
 */
export function validateProfile(
  schema: SchemaSnapshot,
  record: unknown,
  row: number,
): { write: ProfileWrite } | { issues: Issue[] } {
  if (!isPlainObject(record)) return { issues: [{ row, message: "a profile must be a JSON object" }] };
  const issues: Issue[] = [];
  const values = new Map<string, FieldValue>();
  for (const [path, raw] of flattenByPath(record)) {
    const field = schema.profileFields.get(path);
    if (!field) {
      const hint = suggestField(path, [...schema.profileFields.keys()]);
      issues.push({
        row,
        field: path,
        message: `unknown field '${path}'${hint ? `; did you mean '${hint}'?` : ""}`,
      });
      continue;
    }
    const coerced = coerceValue(field.type, raw, "json");
    if (coerced.ok) values.set(path, coerced.value);
    else issues.push({ row, field: path, message: `${path}: ${coerced.reason}` });
  }
  const primary = schema.primaryIdentity.path;
  const id = values.get(primary);
  if (typeof id !== "string" || id.trim() === "") {
    issues.push({
      row,
      field: primary,
      message: `missing identity: the primary identity '${primary}' (${schema.primaryIdentity.namespace}) is required`,
    });
  }
  if (issues.length) return { issues };
  return { write: { id: id as string, values } };
}

/** Turns flat `path → value` pairs back into the nested object users wrote. */
export function nestByPath(flat: Iterable<[string, unknown]>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [path, value] of flat) {
    const parts = path.split(".");
    let node = root;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      if (isPlainObject(next)) node = next;
      else {
        const created: Record<string, unknown> = {};
        node[part] = created;
        node = created;
      }
    }
    node[parts.at(-1) as string] = value;
  }
  return root;
}
