import type { SchemaSnapshot } from "../schema/index.ts";
import {
  type MembershipWrite,
  membershipStatements,
  nextTimeChange,
  type ProfileEvent,
} from "../segments/index.ts";
import type { Dialect, Executor, Row, Statement } from "../store/index.ts";

import { type OutboxMessage, outboxWrite } from "./outbox.ts";
import { buildProfileMessage, lacksConsent, lacksMandatoryValue, type MembershipChange } from "./payload.ts";
import { type ProfileState, profileStateReader } from "./profile-state.ts";
import type { StreamingDataflow, StreamingPlan, StreamingSegment } from "./streaming-plan.ts";

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
  /** Messages whose entries were left out because a mandatory mapped value was missing. */
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

/** An evaluation's outcome and the writes that record it, not yet run. */
export interface Evaluation extends Omit<ReevaluationResult, "queued"> {
  /** Membership writes, then the outbox INSERT last: for the commit's `writeAll`. */
  statements: Statement[];
  /** The outbox messages written, from the rows `writeAll` returned. */
  queued(rows: readonly Row[]): OutboxMessage[];
}

/**
 * Re-evaluates profiles against the sandbox's streaming segments inside the caller's transaction:
 * reads each profile's state (row, events within reach, memberships), evaluates, writes.
 */
export async function reevaluateProfiles(db: Db, input: ReevaluationInput): Promise<ReevaluationResult> {
  const { profileIds, lookbackMs, ...rest } = input;
  if (!input.plan.segments.length || !profileIds.length)
    return { evaluations: 0, changes: [], queued: [], excluded: 0 };
  const states = await profileStateReader(db, { ...rest, lookbackMs }).read(profileIds);
  const { statements, queued, ...result } = evaluateStates(db.dialect, { ...rest, states });
  return { ...result, queued: queued(await db.writeAll(input.sandbox, statements)) };
}

/** An outbox message, before it is written. */
export interface QueuedMessage {
  dataflowId: string;
  profileId: string;
  payload: string;
}

/**
 * A profile's messages for its membership changes: one per dataflow streaming some of the changed
 * segments, with those segments. A profile lacking a mandatory value or a consent its marketing
 * actions require is not sent as an entry (as in file exports), but its exit always goes, with the values it has: otherwise the destination keeps
 * it for good. `excluded` counts the messages whose entries were left out so.
 */
export function profileMessages(
  dataflows: readonly StreamingDataflow[],
  schema: SchemaSnapshot,
  profile: Row,
  changes: readonly MembershipChange[],
): { messages: QueuedMessage[]; excluded: number } {
  const messages: QueuedMessage[] = [];
  let excluded = 0;
  for (const dataflow of dataflows) {
    const relevant = changes.filter((c) => dataflow.segmentIds.has(c.segmentId));
    if (!relevant.length) continue;
    const sent =
      lacksMandatoryValue(dataflow.mapping, schema, profile) || lacksConsent(dataflow, profile)
        ? relevant.filter((c) => c.status === "exited")
        : relevant;
    if (sent.length < relevant.length) excluded++;
    if (!sent.length) continue;
    const message = buildProfileMessage(dataflow, schema, profile, sent);
    messages.push({
      dataflowId: dataflow.id,
      profileId: String(profile._id),
      payload: JSON.stringify(message),
    });
  }
  return { messages, excluded };
}

/**
 * Runs the in-memory evaluators of the streamed segments on profiles whose state was read, and
 * prepares the writes: each membership that changed, and one outbox message per (dataflow, profile)
 * whose streamed segments changed. The caller runs them with the writes that caused them, in one
 * atomic `writeAll`.
 */
export function evaluateStates(dialect: Dialect, input: EvaluationInput): Evaluation {
  const { sandbox, schema, plan, states, now } = input;
  const allChanges: MembershipChange[] = [];
  const outbox: QueuedMessage[] = [];
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
      const member = stored?.status === "realized";
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
    const built = profileMessages(plan.dataflows, schema, profile, changes);
    outbox.push(...built.messages);
    excluded += built.excluded;
  }
  const statements = membershipStatements(dialect, writes, now);
  let queued: Evaluation["queued"] = () => [];
  if (outbox.length) {
    const write = outboxWrite(outbox, sandbox, dialect, input.ingestedAt);
    statements.push(write.statement);
    queued = write.queued;
  }
  return { evaluations, changes: allChanges, excluded, statements, queued };
}
