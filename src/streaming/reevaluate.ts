import type { SchemaSnapshot } from "../schema/index.ts";
import type { MembershipStatus, ProfileEvent } from "../segments/index.ts";
import type { Dialect, Executor, Row } from "../store/index.ts";
import { buildProfileMessage, type MembershipChange } from "./payload.ts";
import type { StreamingPlan } from "./streaming-plan.ts";

const CHUNK = 2_000;

export interface ReevaluationInput {
  sandbox: string;
  schema: SchemaSnapshot;
  plan: StreamingPlan;
  profileIds: readonly string[];
  now: Date;
  /** When the records behind this re-evaluation arrived (the start of the latency measure). */
  ingestedAt: Date;
  /** How far back events are read (the streaming look-back). */
  lookbackMs: number;
}

export interface ReevaluationResult {
  evaluations: number;
  changes: MembershipChange[];
  messages: number;
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

async function chunked<T>(ids: readonly string[], read: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) out.push(...(await read(ids.slice(i, i + CHUNK))));
  return out;
}

/**
 * The events the streamed segments read, per profile: only their event types, each within its
 * segments' reach (at most the look-back). One read from the furthest reach; nearer types are
 * trimmed here.
 */
async function readEvents(
  db: Db,
  input: ReevaluationInput,
  ids: readonly string[],
  list: (column: string) => string,
): Promise<Map<string, ProfileEvent[]>> {
  const byProfile = new Map<string, ProfileEvent[]>();
  const reach = new Map<string, number>();
  for (const segment of input.plan.segments) {
    for (const [type, ms] of segment.eventReach) {
      reach.set(type, Math.min(input.lookbackMs, Math.max(reach.get(type) ?? 0, ms)));
    }
  }
  if (!reach.size) return byProfile;
  const now = input.now.getTime();
  const since = new Map([...reach].map(([type, ms]) => [type, now - ms]));
  const events = await chunked(ids, (chunk) =>
    db.query<Row>(
      input.sandbox,
      `SELECT * FROM {events} WHERE ${list("_profile_id")} AND _ts >= $2 AND _type = ANY(CAST($3 AS TEXT[]))`,
      [chunk, new Date(Math.min(...since.values())), [...reach.keys()]],
    ),
  );
  for (const e of events) {
    const type = e._type as string;
    const ts = e._ts as Date;
    if (new Date(ts).getTime() < (since.get(type) ?? now)) continue;
    const profileId = e._profile_id as string;
    const event: ProfileEvent = { type, ts, properties: e, id: e._id as string };
    const bucket = byProfile.get(profileId);
    if (bucket) bucket.push(event);
    else byProfile.set(profileId, [event]);
  }
  return byProfile;
}

/**
 * Re-evaluates profiles against the sandbox's streaming segments inside the caller's transaction:
 * loads each profile and its events within the look-back, runs the in-memory evaluators, records
 * each membership that changed, and writes one outbox message per (dataflow, profile) whose
 * streamed segments changed. Everything commits, or nothing does, with the writes that caused it.
 */
export async function reevaluateProfiles(db: Db, input: ReevaluationInput): Promise<ReevaluationResult> {
  const { sandbox, schema, plan, now } = input;
  const ids = [...new Set(input.profileIds)];
  if (!plan.segments.length || !ids.length) return { evaluations: 0, changes: [], messages: 0, excluded: 0 };
  // A semi-join on the id list: DuckDB hashes it (its list_contains would compare every row with
  // every id), PostgreSQL probes its index.
  const list = (column: string) =>
    db.dialect.engine === "postgres"
      ? `${column} = ANY(CAST($1 AS TEXT[]))`
      : `${column} IN (SELECT unnest(CAST($1 AS TEXT[])))`;

  const profiles = await chunked(ids, (chunk) =>
    db.query<Row>(sandbox, `SELECT * FROM {profiles} WHERE ${list("_id")}`, [chunk]),
  );
  const eventsByProfile = await readEvents(db, input, ids, list);
  const current = new Map<string, Map<string, MembershipStatus>>();
  const memberships = await chunked(ids, (chunk) =>
    db.query<{ segment_id: string; profile_id: string; status: MembershipStatus }>(
      sandbox,
      // By profile: PostgreSQL probes its (sandbox, profile_id) index once per profile.
      `SELECT segment_id, profile_id, status FROM segment_memberships
        WHERE sandbox = $sandbox AND ${list("profile_id")} AND segment_id = ANY(CAST($2 AS TEXT[]))`,
      [chunk, plan.segments.map((s) => s.id)],
    ),
  );
  for (const m of memberships) {
    const statuses = current.get(m.profile_id);
    if (statuses) statuses.set(m.segment_id, m.status);
    else current.set(m.profile_id, new Map([[m.segment_id, m.status]]));
  }

  const allChanges: MembershipChange[] = [];
  const outbox: { dataflowId: string; profileId: string; payload: string }[] = [];
  const writes: MembershipWrite[] = [];
  let evaluations = 0;
  let excluded = 0;
  for (const profile of profiles) {
    const profileId = profile._id as string;
    const events = eventsByProfile.get(profileId) ?? [];
    const changes: MembershipChange[] = [];
    const statuses = current.get(profileId);
    for (const segment of plan.segments) {
      evaluations++;
      const qualifies = segment.evaluate(profile, events, now);
      const status = statuses?.get(segment.id);
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
  if (outbox.length) {
    const source = db.dialect.unnestColumns(
      [
        { name: "dataflow_id", kind: "string" },
        { name: "profile_id", kind: "string" },
        { name: "payload", kind: "string" },
      ],
      3,
    );
    await db.query(
      sandbox,
      `INSERT INTO streaming_outbox (sandbox, dataflow_id, profile_id, payload, ingested_at, created_at, next_attempt_at)
       SELECT $sandbox, s.dataflow_id, s.profile_id, s.payload, CAST($1 AS TIMESTAMPTZ), CAST($2 AS TIMESTAMPTZ), CAST($2 AS TIMESTAMPTZ)
         FROM (${source}) AS s`,
      [
        input.ingestedAt,
        // Queue times are wall-clock (the dispatcher's), whatever clock memberships are evaluated at.
        new Date(),
        outbox.map((o) => o.dataflowId),
        outbox.map((o) => o.profileId),
        outbox.map((o) => o.payload),
      ],
    );
  }
  return { evaluations, changes: allChanges, messages: outbox.length, excluded };
}
