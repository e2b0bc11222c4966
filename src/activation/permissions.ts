import { type Actor, type Permission, requirePermission } from "../access/index.ts";
import { loadSchema, type SchemaSnapshot } from "../schema/index.ts";
import type { Store } from "../store/index.ts";
import type { DataflowInput } from "./dataflows.ts";

/** What every activation needs: to see the destination, the segments and the profiles it sends, and to activate. */
export const ACTIVATION_PERMISSIONS: readonly Permission[] = [
  "View Destinations",
  "Activate Destinations",
  "View Profiles",
  "View Segments",
];

/** The rule `exportsIdentities` applies, in words, for the API documentation. */
export const IDENTITY_EXPORT_RULE =
  "View Identity Graph too when the dataflow exports identities: an identity column, an attribute column reading an identity's field, or a streaming schedule (its messages carry identities)";

/**
 * Whether a dataflow sends identity values: an identity column (hashed or not), an attribute
 * column that reads an identity's field, or a streaming segment, whose messages carry the mapped
 * identities or, without any, every identity of the profile (src/streaming/payload.ts).
 */
export function exportsIdentities(
  dataflow: Pick<DataflowInput, "mapping" | "segments">,
  schema: Pick<SchemaSnapshot, "identities">,
): boolean {
  const identityPaths = new Set([...schema.identities.values()].map((field) => field.path));
  const mapsIdentity = dataflow.mapping.columns.some(
    ({ source }) =>
      source.kind === "identity" || (source.kind === "attribute" && identityPaths.has(source.path)),
  );
  return mapsIdentity || dataflow.segments.some((s) => s.schedule.frequency === "streaming");
}

/**
 * The permissions creating, changing, activating, resuming or exporting a dataflow needs, given
 * what it maps. "Activate Segment without Mapping" never stands in for "Activate Destinations":
 * every Herald dataflow has a mapping.
 */
export function activationPermissions(
  dataflow: Pick<DataflowInput, "mapping" | "segments">,
  schema: Pick<SchemaSnapshot, "identities">,
): Permission[] {
  return [
    ...ACTIVATION_PERMISSIONS,
    ...(exportsIdentities(dataflow, schema) ? ["View Identity Graph" as const] : []),
  ];
}

/** Refuses an actor missing any permission the dataflow's activation needs, naming the first. */
export async function requireActivationPermissions(
  store: Store,
  sandbox: string,
  actor: Actor,
  dataflow: Pick<DataflowInput, "mapping" | "segments">,
): Promise<void> {
  const schema = await loadSchema(store, sandbox);
  for (const permission of activationPermissions(dataflow, schema)) requirePermission(actor, permission);
}
