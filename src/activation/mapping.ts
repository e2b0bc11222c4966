import { z } from "zod";
import { validationError } from "../errors/index.ts";
import type { Field, SchemaSnapshot } from "../schema/index.ts";
import type { Dialect } from "../store/index.ts";

/**
 * What a dataflow exports per profile: attributes, one identity, and the membership's status and
 * last qualification time. Output columns default to the path with `.` as `_`
 * (`person.name.firstName` → `person_name_firstName`); their order is the order of the rows here.
 */
export const mappingRowSchema = z.object({
  source: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("attribute"), path: z.string().min(1) }),
    z.object({ kind: z.literal("identity"), namespace: z.string().min(1) }),
    z.object({ kind: z.literal("membership"), field: z.enum(["status", "lastQualificationTime"]) }),
  ]),
  target: z
    .string()
    .regex(
      /^[A-Za-z_][A-Za-z0-9_ .-]{0,127}$/,
      "letters, digits, '_', '-', '.', space; starting with a letter or '_'",
    )
    .optional(),
  /** Profiles without a value are not exported, and counted as excluded. */
  mandatory: z.boolean().default(false),
  /** Hash the value with SHA-256 after trimming and lower-casing (advertising identifiers). */
  hash: z.enum(["sha256"]).optional(),
});

export const mappingSchema = z.object({
  columns: z.array(mappingRowSchema).min(1).max(200),
  /** One or two output columns: of profiles sharing them, the most recently qualified is kept. */
  deduplicationKey: z.array(z.string()).min(1).max(2).optional(),
});

export type MappingRow = z.infer<typeof mappingRowSchema>;
export type Mapping = z.infer<typeof mappingSchema>;

export function defaultTarget(row: MappingRow): string {
  switch (row.source.kind) {
    case "attribute":
      return row.source.path.replaceAll(".", "_");
    case "identity":
      return row.source.namespace;
    default:
      return row.source.field;
  }
}

export interface ResolvedColumn {
  target: string;
  /** SQL over `p` (profiles) and `m` (memberships); identifiers come from the schema only. */
  expression: string;
  mandatory: boolean;
}

/** Checks a mapping against the schema and turns it into SQL expressions. */
export function resolveMapping(mapping: Mapping, schema: SchemaSnapshot, dialect: Dialect): ResolvedColumn[] {
  const seen = new Set<string>();
  const columns = mapping.columns.map((row, index) => {
    const target = row.target ?? defaultTarget(row);
    if (seen.has(target)) {
      throw validationError(`mapping.columns.${index}.target: the column '${target}' appears twice`, [
        { field: `mapping.columns.${index}.target`, message: "duplicate column name" },
      ]);
    }
    seen.add(target);
    let expression: string;
    let type: string;
    switch (row.source.kind) {
      case "attribute": {
        const field = schema.profileFields.get(row.source.path);
        if (!field) {
          throw validationError(`mapping.columns.${index}: '${row.source.path}' is not a profile field`, [
            { field: `mapping.columns.${index}.source.path`, message: "unknown field" },
          ]);
        }
        expression = `p.${dialect.ident(field.path)}`;
        type = field.type;
        break;
      }
      case "identity": {
        const field = schema.identities.get(row.source.namespace);
        if (!field) {
          throw validationError(
            `mapping.columns.${index}: '${row.source.namespace}' is not an identity namespace`,
            [{ field: `mapping.columns.${index}.source.namespace`, message: "unknown identity namespace" }],
          );
        }
        expression = `p.${dialect.ident(field.path)}`;
        type = field.type;
        break;
      }
      default:
        expression = row.source.field === "status" ? "m.status" : "m.changed_at";
        type = row.source.field === "status" ? "string" : "timestamp";
    }
    if (row.hash === "sha256") {
      if (type !== "string") {
        throw validationError(`mapping.columns.${index}: only text values can be hashed`, [
          { field: `mapping.columns.${index}.hash`, message: "not a text field" },
        ]);
      }
      expression = dialect.sha256Normalized(expression);
    } else if (type === "timestamp") {
      expression = dialect.isoTimestamp(expression);
    }
    return { target, expression, mandatory: row.mandatory };
  });
  for (const key of mapping.deduplicationKey ?? []) {
    if (!seen.has(key)) {
      throw validationError(`mapping.deduplicationKey: '${key}' is not one of the mapped columns`, [
        { field: "mapping.deduplicationKey", message: `unknown column '${key}'` },
      ]);
    }
  }
  return columns;
}

/** What a destination asks of every dataflow's mapping (advertising and email-marketing presets). */
export interface MappingPresets {
  identityHashing?: "sha256";
  requiredIdentity?: string;
}

/**
 * A destination's presets applied to a mapping when a dataflow is saved: the required identity
 * must be exported and becomes mandatory (profiles without it are excluded and counted), and
 * identities are hashed when the destination takes hashed identifiers. Stored as applied, so the
 * batch export and the streaming messages read the same mapping.
 */
export function applyPresets(
  mapping: Mapping,
  presets: MappingPresets | undefined,
  destination: string,
  schema: { identities: ReadonlyMap<string, Pick<Field, "path">> },
): Mapping {
  if (!presets) return mapping;
  const required = presets.requiredIdentity;
  if (
    required &&
    !mapping.columns.some((c) => c.source.kind === "identity" && c.source.namespace === required)
  ) {
    throw validationError(
      `mapping.columns: ${destination} needs the '${required}' identity in every export; add {"source": {"kind": "identity", "namespace": "${required}"}}`,
      [{ field: "mapping.columns", message: `missing the '${required}' identity` }],
    );
  }
  if (presets.identityHashing) refuseIdentitiesInClear(mapping, destination, schema.identities);
  return {
    ...mapping,
    columns: mapping.columns.map((column) => {
      if (column.source.kind !== "identity") return column;
      return {
        ...column,
        ...(column.source.namespace === required ? { mandatory: true } : {}),
        ...(presets.identityHashing ? { hash: presets.identityHashing } : {}),
      };
    }),
  };
}

/**
 * Where identities go out hashed, an attribute column reading an identity's field would send the
 * same value in clear beside its hash: refused, pointing to the identity column instead.
 */
function refuseIdentitiesInClear(
  mapping: Mapping,
  destination: string,
  identities: ReadonlyMap<string, Pick<Field, "path">>,
) {
  const namespaceOf = new Map([...identities].map(([namespace, field]) => [field.path, namespace]));
  const issues = mapping.columns.flatMap((column, i) => {
    if (column.source.kind !== "attribute") return [];
    const namespace = namespaceOf.get(column.source.path);
    if (!namespace) return [];
    const field = `mapping.columns.${i}.source.path`;
    return [
      {
        field,
        message: `mapping.columns.${i}: '${column.source.path}' holds the '${namespace}' identity, which ${destination} receives hashed, and would go in clear as an attribute; export the identity instead: {"source": {"kind": "identity", "namespace": "${namespace}"}} (hashed)`,
      },
    ];
  });
  if (issues.length) throw validationError(issues.map((i) => i.message).join("; "), issues);
}
