import { z } from "zod";

export interface FieldToAsk {
  name: string;
  /** JSON Schema type (`string`, `integer`, `boolean`, ...), to turn a typed answer into a value. */
  type?: string;
  /** Required by the schema itself; the others are one of several alternatives and may be skipped. */
  required: boolean;
  /** Why an optional field is asked for: the check that wants it, e.g. "give a password or a privateKey". */
  why?: string;
}

/** The top-level fields of a connector's connection or details schema. */
export function fieldsOf(schema: z.ZodType): FieldToAsk[] {
  const json = z.toJSONSchema(schema, { unrepresentable: "any" }) as {
    properties?: Record<string, { type?: string }>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, spec]) => ({
    name,
    required: json.required?.includes(name) ?? false,
    ...(spec.type ? { type: spec.type } : {}),
  }));
}

/**
 * The fields to ask a user for, in order, given what they gave so far. First the fields the schema
 * requires. Then those a connector's own checks want, as their issues name them: many credentials
 * are alternatives (SFTP's password or privateKey, Azure's connectionString or sasUrl), optional
 * in the schema and demanded by a refinement, whose issue sits on one field and whose message
 * names the others. Fields already given are never asked for: a wrong value is the check's to report.
 */
export function fieldsToAsk(schema: z.ZodType, values: Record<string, unknown>): FieldToAsk[] {
  const fields = fieldsOf(schema);
  const absent = (name: string) => values[name] === undefined;
  const missingRequired = fields.filter((f) => f.required && absent(f.name));
  // Refinements only run once the required fields parse, so they come in a later round.
  if (missingRequired.length) return missingRequired;
  const parsed = schema.safeParse(values);
  const wanted: FieldToAsk[] = [];
  for (const issue of parsed.error?.issues ?? []) {
    const named = fields.filter(
      (f) => f.name === issue.path[0] || new RegExp(`\\b${f.name}\\b`).test(issue.message),
    );
    // The field the issue sits on first, then the alternatives its message names.
    named.sort((a, b) => Number(b.name === issue.path[0]) - Number(a.name === issue.path[0]));
    for (const field of named) {
      if (absent(field.name) && !wanted.some((w) => w.name === field.name))
        wanted.push({ ...field, why: issue.message });
    }
  }
  return wanted;
}

/** Numbers and booleans given as text become their JSON type; the connector's schema checks the rest. */
export function typedAnswer(value: string, type?: string): unknown {
  if (type === "integer" || type === "number") return Number(value);
  if (type === "boolean") return value === "true";
  return value;
}

/**
 * Asks for what is missing, one field at a time, checking again after each answer: an answer can
 * satisfy a check (a password makes privateKey unnecessary) or make another field needed. `ask`
 * returns "" to skip an optional field; no field is asked twice. Returns the values to validate.
 */
export async function askForMissingFields(
  schema: z.ZodType,
  given: Record<string, unknown>,
  ask: (field: FieldToAsk) => Promise<string>,
): Promise<Record<string, unknown>> {
  const values = { ...given };
  const asked = new Set<string>();
  for (;;) {
    const next = fieldsToAsk(schema, values).find((f) => !asked.has(f.name));
    if (!next) return values;
    asked.add(next.name);
    const answer = await ask(next);
    if (answer !== "") values[next.name] = typedAnswer(answer, next.type);
  }
}
