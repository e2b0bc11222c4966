import { z } from "zod";
import type { ColumnKind } from "../store/index.ts";

export const FIELD_TYPES = [
  "string",
  "integer",
  "number",
  "boolean",
  "date",
  "timestamp",
  "string[]",
] as const;
export type FieldType = (typeof FIELD_TYPES)[number] & ColumnKind;

/** A field path: dot-separated identifiers, as XDM users write them (`person.name.firstName`). */
export const fieldPathSchema = z
  .string()
  .max(63)
  .regex(
    /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$/,
    "must be dot-separated names of letters, digits and '_' (e.g. person.name.firstName)",
  );

export const identityNamespaceSchema = z
  .string()
  .regex(
    /^[a-zA-Z][a-zA-Z0-9_]{0,31}$/,
    "must be a short name of letters, digits and '_' (e.g. email, crmId)",
  );

/** `profile` fields are profile attributes; `event` fields are typed event properties. */
export type FieldEntity = "profile" | "event";

export const fieldDefinitionSchema = z.object({
  path: fieldPathSchema,
  type: z.enum(FIELD_TYPES),
  entity: z.enum(["profile", "event"]).default("profile"),
  namespace: identityNamespaceSchema.optional().describe("Identity namespace when the field is an identity"),
  primary: z.boolean().default(false).describe("The primary identity: profiles upsert by it (exactly one)"),
  labels: z
    .array(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/))
    .default([])
    .describe("Data-usage labels"),
  description: z.string().max(500).optional(),
});
export type FieldDefinitionInput = z.input<typeof fieldDefinitionSchema>;

export interface Field {
  path: string;
  type: FieldType;
  entity: FieldEntity;
  namespace?: string;
  primary: boolean;
  labels: string[];
  description?: string;
}

/**
 * A sandbox's schema at one moment. Profile fields are columns of `{profiles}` named exactly by
 * their path (`"person.birthDate"`); event fields are columns of `{events}` named by their path
 * (`"priceTotal"`). Profiles are keyed by `_id` (the primary identity's value), events carry
 * `_profile_id`, `_type` and `_ts`.
 */
export interface SchemaSnapshot {
  sandbox: string;
  profileFields: ReadonlyMap<string, Field>;
  eventFields: ReadonlyMap<string, Field>;
  primaryIdentity: Field;
  /** namespace → profile field holding that identity */
  identities: ReadonlyMap<string, Field>;
}
