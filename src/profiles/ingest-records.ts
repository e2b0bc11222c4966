import type { Issue } from "../errors/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import type { Store } from "../store/index.ts";
import { knownEventTypes } from "./event-types.ts";
import { type EventWrite, insertEvents, validateEvent } from "./events.ts";
import { type ProfileWrite, validateProfile } from "./records.ts";
import { upsertProfiles } from "./upsert.ts";

/** What became of a batch: how many records were stored and, for each rejected one, why. */
export interface IngestReport {
  received: number;
  stored: number;
  rejected: number;
  issues: Issue[];
  /** Profiles written or touched by events: the real-time path re-evaluates these. */
  profileIds: string[];
}

/** A batch's profiles split into the writes of the valid ones and the issues of the others. */
export function validateProfiles(schema: SchemaSnapshot, records: readonly unknown[], firstRow = 0) {
  const writes: ProfileWrite[] = [];
  const issues: Issue[] = [];
  records.forEach((record, i) => {
    const result = validateProfile(schema, record, firstRow + i);
    if ("write" in result) writes.push(result.write);
    else issues.push(...result.issues);
  });
  return { writes, issues };
}

/** A batch's events split into the valid ones (with their row) and the issues of the others. */
export function validateEvents(schema: SchemaSnapshot, records: readonly unknown[], firstRow = 0) {
  const events: { write: EventWrite; row: number }[] = [];
  const issues: Issue[] = [];
  records.forEach((record, i) => {
    const row = firstRow + i;
    const result = validateEvent(schema, record, row);
    if ("write" in result) events.push({ write: result.write, row });
    else issues.push(...result.issues);
  });
  return { events, issues };
}

/**
 * Validates and stores a batch of profile records (API bodies, JSON Lines chunks). Each bad record
 * is reported with its index (`firstRow` numbers the first one) and the good ones are stored.
 */
export async function ingestProfileRecords(
  store: Store,
  schema: SchemaSnapshot,
  records: readonly unknown[],
  firstRow = 0,
  now = new Date(),
): Promise<IngestReport> {
  const { writes, issues } = validateProfiles(schema, records, firstRow);
  if (writes.length) await upsertProfiles(store, schema, writes, now);
  return {
    received: records.length,
    stored: writes.length,
    rejected: records.length - writes.length,
    issues,
    profileIds: [...new Set(writes.map((w) => w.id))],
  };
}

/** Validates and appends a batch of events; bad ones and ones with an unknown identity are reported. */
export async function ingestEventRecords(
  store: Store,
  schema: SchemaSnapshot,
  records: readonly unknown[],
  firstRow = 0,
  now = new Date(),
): Promise<IngestReport> {
  const { events: valid, issues } = validateEvents(schema, records, firstRow);
  const inserted = await store.transaction((tx) =>
    insertEvents({ ...tx, dialect: store.dialect }, schema, valid, knownEventTypes(store), now),
  );
  issues.push(...inserted.issues);
  const rejectedRows = new Set(issues.map((i) => i.row));
  return {
    received: records.length,
    stored: inserted.inserted,
    rejected: rejectedRows.size,
    issues: issues.sort((a, b) => (a.row ?? 0) - (b.row ?? 0)),
    profileIds: inserted.profileIds,
  };
}
