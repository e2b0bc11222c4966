import type { Issue } from "../errors/index.ts";
import { type EventWrite, insertEvents, type ProfileWrite, upsertProfiles } from "../profiles/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import type { Dialect, Executor } from "../store/index.ts";
import { type ProfileState, profileStateReader } from "./profile-state.ts";
import { evaluateProfiles, type ReevaluationResult } from "./reevaluate.ts";
import type { StreamingPlan } from "./streaming-plan.ts";

/** What one group commit writes and re-evaluates, for one sandbox. */
export interface GroupRecords {
  sandbox: string;
  schema: SchemaSnapshot;
  plan: StreamingPlan;
  profiles: readonly ProfileWrite[];
  /** Events with their row in the group (issues name it). */
  events: readonly { write: EventWrite; row: number }[];
  /** Profiles to re-evaluate without a write (the sweep's time-based exits). */
  reevaluate: readonly string[];
  now: Date;
  ingestedAt: Date;
  lookbackMs: number;
}

export interface CommittedRecords {
  result: ReevaluationResult;
  /** Events rejected while writing (unknown identity), by group row. */
  issues: Issue[];
  /** Every profile the group wrote or re-evaluated. */
  profileIds: string[];
}

const nothingEvaluated: ReevaluationResult = { evaluations: 0, changes: [], queued: [], excluded: 0 };

/**
 * One group's work inside the caller's transaction: upserts the profiles, reads the state of the
 * profiles to evaluate — those written, and those receiving an event of a type some streamed
 * segment reads (that read also tells which exist, so their identities are not looked up again) —
 * appends the events, adds them to the states read before (profiles created by them or found by
 * another identity are read after, with them), then evaluates those profiles, recording membership
 * changes and the outbox. An event no streamed segment reads is stored only: it cannot change a
 * streamed membership (the passing of time can: that is the sweep's).
 */
export async function commitRecords(
  db: Executor & { dialect: Dialect },
  group: GroupRecords,
): Promise<CommittedRecords> {
  const { schema, plan, events, now } = group;
  if (group.profiles.length) await upsertProfiles(db, schema, group.profiles, now);
  const touched = new Set([...group.profiles.map((w) => w.id), ...group.reevaluate]);
  if (!plan.segments.length) {
    // Nothing streamed in this sandbox: store the records, evaluate nothing.
    const inserted = await insertEvents(db, schema, events, now);
    for (const id of inserted.profileIds) touched.add(id);
    return { result: nothingEvaluated, issues: inserted.issues, profileIds: [...touched] };
  }

  const reader = profileStateReader(db, group);
  const primary = schema.primaryIdentity.namespace;
  // Profiles to evaluate: those written, and those receiving an event some streamed segment reads.
  const named = new Set(touched);
  for (const { write } of events) {
    if (write.identity.namespace === primary && reader.readsType(write.type)) named.add(write.identity.value);
  }
  const states = new Map<string, ProfileState>();
  for (const state of await reader.read([...named])) states.set(state.profile._id as string, state);

  const inserted = await insertEvents(db, schema, events, now, { ids: named, found: new Set(states.keys()) });
  // Read after the write, with their events: profiles these events created, and profiles an event
  // named by another identity.
  const readAfter = new Set(inserted.created);
  events.forEach(({ write }, i) => {
    const profileId = inserted.resolved[i];
    if (profileId === undefined) return;
    touched.add(profileId);
    const state = states.get(profileId);
    if (state) reader.addEvent(state, write);
    else if (reader.readsType(write.type)) readAfter.add(profileId);
  });
  for (const state of await reader.read([...readAfter])) states.set(state.profile._id as string, state);

  const result = await evaluateProfiles(db, { ...group, states: [...states.values()] });
  return { result, issues: inserted.issues, profileIds: [...touched] };
}
