import type { Issue } from "../errors/index.ts";
import {
  type EventWrite,
  type KnownEventTypes,
  type ProfileWrite,
  prepareEventWrites,
  upsertProfiles,
} from "../profiles/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import type { Dialect, Executor, Row, Statement } from "../store/index.ts";
import { type ProfileState, profileStateReader } from "./profile-state.ts";
import { evaluateStates, type ReevaluationResult } from "./reevaluate.ts";
import { PlanChanged, type StreamingPlan } from "./streaming-plan.ts";

/** What one group commit writes and re-evaluates, for one sandbox. */
export interface GroupRecords {
  sandbox: string;
  schema: SchemaSnapshot;
  plan: StreamingPlan;
  profiles: readonly ProfileWrite[];
  /** Events with their row in the group (issues name it). */
  events: readonly { write: EventWrite; row: number }[];
  /** The event types known stored in the store (knownEventTypes): a new one is recorded with the events. */
  knownTypes: KnownEventTypes;
  /** Profiles to re-evaluate without a write (the sweep's time-based exits). */
  reevaluate: readonly string[];
  now: Date;
  ingestedAt: Date;
  lookbackMs: number;
  /**
   * The stamp `plan` was built at, when it came from the cache unchecked: the state read checks it
   * and the commit throws PlanChanged, before writing anything, if the plan has changed since.
   */
  planStamp?: string;
  /**
   * Statements the caller commits in the group's write, atomically with its records (the requests'
   * audit entries), given the events rejected while writing. They return no rows to the group.
   */
  alsoWrite?: (issues: readonly Issue[]) => Statement[];
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
 * One group's work: upserts the profiles, reads the state of the profiles to evaluate — those
 * written, and those receiving an event of a type some streamed segment reads — and, in the same
 * read, which of the other profiles the events name exist; resolves the events, adds them
 * to the states read (a profile the events create starts empty; one found by another identity is
 * read after), evaluates, then writes the events, the new profiles, the membership changes and the
 * outbox in one `writeAll`. An event no streamed segment reads is stored only: it cannot change a
 * streamed membership (the passing of time can: that is the sweep's).
 *
 * The final `writeAll` is atomic on its own, and the reads are the same outside a transaction
 * (READ COMMITTED; the commit queue keeps two commits off one profile), so a group without profile
 * writes needs no transaction of the caller on PostgreSQL; one with them (written before the read)
 * does.
 */
export async function commitRecords(
  db: Executor & { dialect: Dialect },
  group: GroupRecords,
): Promise<CommittedRecords> {
  const { schema, plan, events, knownTypes, now, sandbox } = group;
  if (group.profiles.length) await upsertProfiles(db, schema, group.profiles, now);
  const touched = new Set([...group.profiles.map((w) => w.id), ...group.reevaluate]);
  if (!plan.segments.length) {
    // Nothing streamed in this sandbox: store the records, evaluate nothing.
    const { statements, ...inserted } = await prepareEventWrites(db, schema, events, knownTypes, now);
    await db.writeAll(sandbox, [...(group.alsoWrite?.(inserted.issues) ?? []), ...statements]);
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
  // The other primary identities only need to be known to exist (else their events create them).
  const others = new Set<string>();
  for (const { write } of events) {
    if (write.identity.namespace === primary && !named.has(write.identity.value))
      others.add(write.identity.value);
  }
  const read = await reader.readWithExistence([...named], [...others], group.planStamp !== undefined);
  if (read.planStamp !== group.planStamp) throw new PlanChanged();
  const states = new Map<string, ProfileState>();
  for (const state of read.states) states.set(state.profile._id as string, state);

  const eventWrites = await prepareEventWrites(db, schema, events, knownTypes, now, {
    ids: read.found ? new Set([...named, ...others]) : named,
    found: new Set([...states.keys(), ...(read.found ?? [])]),
  });
  for (const id of eventWrites.created) states.set(id, newProfileState(schema, id, now));
  // Read once the events are resolved (still before the write): profiles an event named by another
  // identity. Every state then gets the group's events in memory.
  const foundByOtherIdentity = new Set<string>();
  events.forEach(({ write }, i) => {
    const profileId = eventWrites.resolved[i];
    if (profileId === undefined) return;
    touched.add(profileId);
    if (!states.has(profileId) && reader.readsType(write.type)) foundByOtherIdentity.add(profileId);
  });
  for (const state of await reader.read([...foundByOtherIdentity]))
    states.set(state.profile._id as string, state);
  events.forEach(({ write }, i) => {
    const state = states.get(eventWrites.resolved[i] as string);
    if (state) reader.addEvent(state, write);
  });

  const { statements, queued, ...evaluated } = evaluateStates(db.dialect, {
    ...group,
    states: [...states.values()],
  });
  // The outbox's INSERT stays last: its rows are the ones writeAll returns.
  const rows = await db.writeAll(sandbox, [
    ...(group.alsoWrite?.(eventWrites.issues) ?? []),
    ...eventWrites.statements,
    ...statements,
  ]);
  return {
    result: { ...evaluated, queued: queued(rows) },
    issues: eventWrites.issues,
    profileIds: [...touched],
  };
}

/** The state of a profile the group's events create: only its primary identity, no events yet, no memberships. */
function newProfileState(schema: SchemaSnapshot, id: string, now: Date): ProfileState {
  const profile: Row = { _id: id, _created_at: now, _updated_at: now };
  for (const path of schema.profileFields.keys()) profile[path] ??= null;
  profile[schema.primaryIdentity.path] = id;
  return { profile, events: [], memberships: new Map() };
}
