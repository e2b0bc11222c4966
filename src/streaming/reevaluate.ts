import type { SchemaSnapshot } from "../schema/index.ts";
import type { Dialect, Executor } from "../store/index.ts";
import { type OutboxMessage, queueMessages } from "./outbox.ts";
import { buildProfileMessage, type MembershipChange } from "./payload.ts";
import { type ProfileState, profileStateReader } from "./profile-state.ts";
import type { StreamingPlan } from "./streaming-plan.ts";

export interface EvaluationInput {
  sandbox: string;
  schema: SchemaSnapshot;
  plan: StreamingPlan;
  states: readonly ProfileState[];
  now: Date;
  /** When the records behind this re-evaluation arrived (the start of the latency measure). */
  ingestedAt: Date;
}

export interface ReevaluationInput extends Omit<EvaluationInput, "states"> {
  profileIds: readonly string[];
  /** How far back events are read (the streaming look-back). */
  lookbackMs: number;
}

export interface ReevaluationResult {
  evaluations: number;
  changes: MembershipChange[];
  /** The outbox messages written, to hand to the dispatcher once committed. */
  queued: OutboxMessage[];
  /** Messages not written because a mandatory mapped value was missing. */
  excluded: number;
}

type Db = Executor & { dialect: Dialect };

interface MembershipWrite {
  segmentId: string;
  profileId: string;
  status: "realized" | "exited";
  /** The membership row exists (an earlier entry); otherwise it is inserted. */
  known: boolean;
}

/**
 * The bulk form of the segments part's `recordMembership`, with the same transitions: a profile
 * that starts qualifying becomes `realized` (its row inserted, or updated after an exit), one that
 * stops becomes `exited`; `changed_at` is now and `run_id` cleared. One UPDATE and one INSERT per
 * commit instead of two statements per change: at thousands of changes a second that is the
 * difference between keeping up and falling behind.
 */
async function applyMembershipChanges(
  db: Db,
  sandbox: string,
  writes: readonly MembershipWrite[],
  now: Date,
) {
  const columns = [
    { name: "segment_id", kind: "string" as const },
    { name: "profile_id", kind: "string" as const },
    { name: "status", kind: "string" as const },
  ];
  const params = (rows: readonly MembershipWrite[]) => [
    now,
    rows.map((w) => w.segmentId),
    rows.map((w) => w.profileId),
    rows.map((w) => w.status),
  ];
  const updates = writes.filter((w) => w.known);
  if (updates.length) {
    await db.query(
      sandbox,
      `UPDATE segment_memberships SET status = s.status, changed_at = CAST($1 AS TIMESTAMPTZ), run_id = NULL
         FROM (${db.dialect.unnestColumns(columns, 2)}) AS s
        WHERE segment_memberships.sandbox = $sandbox AND segment_memberships.segment_id = s.segment_id
          AND segment_memberships.profile_id = s.profile_id`,
      params(updates),
    );
  }
  const inserts = writes.filter((w) => !w.known);
  if (inserts.length) {
    await db.query(
      sandbox,
      `INSERT INTO segment_memberships (sandbox, segment_id, profile_id, status, changed_at)
       SELECT $sandbox, s.segment_id, s.profile_id, s.status, CAST($1 AS TIMESTAMPTZ)
         FROM (${db.dialect.unnestColumns(columns, 2)}) AS s`,
      params(inserts),
    );
  }
}

/**
 * Re-evaluates profiles against the sandbox's streaming segments inside the caller's transaction:
 * reads each profile's state (row, events within reach, memberships), then `evaluateProfiles`.
 */
export async function reevaluateProfiles(db: Db, input: ReevaluationInput): Promise<ReevaluationResult> {
  const { profileIds, lookbackMs, ...rest } = input;
  if (!input.plan.segments.length || !profileIds.length)
    return { evaluations: 0, changes: [], queued: [], excluded: 0 };
  const states = await profileStateReader(db, { ...rest, lookbackMs }).read(profileIds);
  return evaluateProfiles(db, { ...rest, states });
}

/**
 * Runs the in-memory evaluators of the streamed segments on profiles whose state was read in the
 * caller's transaction, records each membership that changed, and writes one outbox message per
 * (dataflow, profile) whose streamed segments changed. Everything commits, or nothing does, with
 * the writes that caused it.
 */
export async function evaluateProfiles(db: Db, input: EvaluationInput): Promise<ReevaluationResult> {
  const { sandbox, schema, plan, states, now } = input;
  const allChanges: MembershipChange[] = [];
  const outbox: { dataflowId: string; profileId: string; payload: string }[] = [];
  const writes: MembershipWrite[] = [];
  let evaluations = 0;
  let excluded = 0;
  for (const { profile, events, memberships } of states) {
    const profileId = profile._id as string;
    const changes: MembershipChange[] = [];
    for (const segment of plan.segments) {
      evaluations++;
      const qualifies = segment.evaluate(profile, events, now);
      const status = memberships.get(segment.id);
      const member = status === "realized" || status === "existing";
      if (qualifies === member) continue;
      changes.push({ segmentId: segment.id, status: qualifies ? "realized" : "exited", changedAt: now });
      writes.push({
        segmentId: segment.id,
        profileId,
        status: qualifies ? "realized" : "exited",
        known: !!status,
      });
    }
    if (!changes.length) continue;
    allChanges.push(...changes);
    for (const dataflow of plan.dataflows) {
      const relevant = changes.filter((c) => dataflow.segmentIds.has(c.segmentId));
      if (!relevant.length) continue;
      const message = buildProfileMessage(dataflow.mapping, schema, profile, relevant);
      if (!message) {
        excluded++;
        continue;
      }
      outbox.push({ dataflowId: dataflow.id, profileId, payload: JSON.stringify(message) });
    }
  }
  await applyMembershipChanges(db, sandbox, writes, now);
  const queued = await queueMessages(db, sandbox, outbox, input.ingestedAt);
  return { evaluations, changes: allChanges, queued, excluded };
}
