import type { SchemaSnapshot } from "../schema/index.ts";
import { nextTimeChange, type ProfileEvent } from "../segments/index.ts";
import type { Dialect, Executor } from "../store/index.ts";
import { applyMembershipWrites, type MembershipWrite } from "./memberships.ts";
import { type OutboxMessage, queueMessages } from "./outbox.ts";
import { buildProfileMessage, type MembershipChange } from "./payload.ts";
import { type ProfileState, profileStateReader } from "./profile-state.ts";
import type { StreamingPlan, StreamingSegment } from "./streaming-plan.ts";

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

const DAY = 86_400_000;

/**
 * When a member's membership should be looked at again by the sweep: the next time one of its
 * events enters or leaves a window, when windows over events are all its segment reads of the
 * time (and at the latest a day later); undefined otherwise, so the sweep looks at it every time.
 */
function recheckTime(
  segment: StreamingSegment,
  events: readonly ProfileEvent[],
  now: Date,
): number | undefined {
  if (!segment.timeDependent || !segment.lastWindows) return undefined;
  const next = nextTimeChange(segment.lastWindows, events, now.getTime());
  return Math.min(next, now.getTime() + DAY);
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
      const stored = memberships.get(segment.id);
      const member = stored?.status === "realized" || stored?.status === "existing";
      const recheckAt = qualifies ? recheckTime(segment, events, now) : undefined;
      if (qualifies === member) {
        // Still a member: only the time its membership should be looked at again may have moved.
        if (member && recheckAt !== stored?.recheckAt) {
          writes.push({ segmentId: segment.id, profileId, known: true, recheckAt });
        }
        continue;
      }
      const status = qualifies ? "realized" : "exited";
      changes.push({ segmentId: segment.id, status, changedAt: now });
      writes.push({ segmentId: segment.id, profileId, status, known: !!stored, recheckAt });
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
  await applyMembershipWrites(db, sandbox, writes, now);
  const queued = await queueMessages(db, sandbox, outbox, input.ingestedAt);
  return { evaluations, changes: allChanges, queued, excluded };
}
