import { createHash, createHmac } from "node:crypto";
import { defaultTarget, type Mapping } from "../activation/index.ts";
import { assertNever } from "../errors/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import { HASH_TRIM_PATTERN, type Row } from "../store/index.ts";
import type { StreamingDataflow } from "./streaming-plan.ts";

/** Namespace of Herald's segments in `segmentMembership` (Adobe's messages use `ups`). */
export const MEMBERSHIP_NAMESPACE = "herald";

export interface MembershipChange {
  segmentId: string;
  status: "realized" | "exited";
  changedAt: Date;
}

/** One streaming message: a profile's identities, mapped attributes and changed memberships. */
export interface ProfileMessage {
  /** The profile id when the message sends the primary identity in clear, else its pseudonym. */
  profileId: string;
  identities: Record<string, unknown>;
  attributes: Record<string, unknown>;
  segmentMembership: Record<
    string,
    Record<string, { status: "realized" | "exited"; lastQualificationTime: string }>
  >;
  changedAt: string;
}

/** Values as JSON shows them: timestamps in ISO 8601 UTC, big integers as numbers when safe. */
function jsonValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "bigint")
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  return value;
}

/** The same normalisation as the batch exports: trimmed, lower-cased, hex SHA-256. */
function sha256Normalized(value: unknown): unknown {
  if (typeof value !== "string") return value;
  return createHash("sha256").update(value.replace(HASH_TRIM_PATTERN, "").toLowerCase()).digest("hex");
}

/** A mapping row's value for the profile: undefined for a membership row, or a value it lacks. */
function mappedValue(row: Mapping["columns"][number], schema: SchemaSnapshot, profile: Row): unknown {
  const { source } = row;
  switch (source.kind) {
    case "attribute":
      return profile[source.path] ?? undefined;
    case "identity": {
      const field = schema.identities.get(source.namespace);
      return field ? (profile[field.path] ?? undefined) : undefined;
    }
    case "membership":
      return undefined;
    default:
      return assertNever(source, "mapping source");
  }
}

/**
 * Whether a `mandatory` attribute or identity row of the mapping has no value for the profile: its
 * entries are then excluded (as in file exports), not its exits.
 */
export function lacksMandatoryValue(mapping: Mapping, schema: SchemaSnapshot, profile: Row): boolean {
  return mapping.columns.some(
    (row) =>
      row.mandatory && row.source.kind !== "membership" && mappedValue(row, schema, profile) === undefined,
  );
}

/**
 * Whether the profile lacks a consent the dataflow's marketing actions require (consent policies:
 * its field holds none of the allowed values, compared as text, or nothing): its entries are then
 * excluded, as in file exports, not its exits.
 */
export function lacksConsent(dataflow: Pick<StreamingDataflow, "consent">, profile: Row): boolean {
  return (dataflow.consent ?? []).some((requirement) => {
    const value = profile[requirement.field];
    return (
      value === null ||
      value === undefined ||
      !requirement.allowedValues.some((allowed) => String(allowed) === String(value))
    );
  });
}

/**
 * The id a dataflow's messages carry for a profile that does not reveal it: the hex HMAC-SHA256 of
 * the profile id keyed by the dataflow's id. Stable for the profile within the dataflow; unlike a
 * plain SHA-256 of an email, it cannot be matched against lists of hashed emails (what advertising
 * platforms hold) without the dataflow's id, which messages do not carry; two dataflows' ids for
 * one profile differ.
 */
function profilePseudonym(dataflowId: string, profileId: string): string {
  return createHmac("sha256", dataflowId).update(profileId).digest("hex");
}

/**
 * Builds a dataflow's message for one profile, with the mapped values it has (whether to send it
 * when a mandatory one is missing is the caller's: `lacksMandatoryValue`). Identity rows of the
 * mapping choose the identities sent (hashed when asked); without any, every identity of the
 * profile is sent. Membership rows of the mapping are carried by `segmentMembership`. The profile
 * id (the primary identity's value) is carried as it is only when the message sends that identity
 * in clear anyway; otherwise its `profilePseudonym` is.
 */
export function buildProfileMessage(
  dataflow: Pick<StreamingDataflow, "id" | "mapping">,
  schema: SchemaSnapshot,
  profile: Row,
  changes: readonly MembershipChange[],
): ProfileMessage {
  const identities: Record<string, unknown> = {};
  const attributes: Record<string, unknown> = {};
  let identityRows = 0;
  let primaryInClear = false;
  for (const row of dataflow.mapping.columns) {
    const { source } = row;
    if (source.kind === "identity") {
      identityRows++;
      if (source.namespace === schema.primaryIdentity.namespace && !row.hash) primaryInClear = true;
    }
    const value = mappedValue(row, schema, profile);
    if (value === undefined) continue;
    const out = row.hash === "sha256" ? sha256Normalized(value) : jsonValue(value);
    if (source.kind === "identity") identities[row.target ?? source.namespace] = out;
    else attributes[row.target ?? defaultTarget(row)] = out;
  }
  if (!identityRows) {
    // Without identity rows every identity goes as it is, the primary one among them.
    primaryInClear = true;
    for (const [namespace, field] of schema.identities) {
      const value = profile[field.path];
      if (value !== null && value !== undefined) identities[namespace] = jsonValue(value);
    }
  }
  const memberships: ProfileMessage["segmentMembership"][string] = {};
  let latest = 0;
  for (const change of changes) {
    memberships[change.segmentId] = {
      status: change.status,
      lastQualificationTime: change.changedAt.toISOString(),
    };
    latest = Math.max(latest, change.changedAt.getTime());
  }
  const profileId = String(profile._id);
  return {
    profileId: primaryInClear ? profileId : profilePseudonym(dataflow.id, profileId),
    identities,
    attributes,
    segmentMembership: { [MEMBERSHIP_NAMESPACE]: memberships },
    changedAt: new Date(latest).toISOString(),
  };
}
