import type { EventWrite } from "../profiles/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import type { MembershipState, ProfileEvent } from "../segments/index.ts";
import type { Dialect, Executor, Row } from "../store/index.ts";
import { PLAN_STAMP_SQL, type StreamingPlan } from "./streaming-plan.ts";

const CHUNK = 2_000;

/** What evaluating one profile needs: its row, the events its segments read, its memberships. */
export interface ProfileState {
  profile: Row;
  events: ProfileEvent[];
  /** Per streamed segment the profile has a membership row in. */
  memberships: Map<string, MembershipState>;
}

export interface ProfileStateOptions {
  sandbox: string;
  schema: SchemaSnapshot;
  plan: StreamingPlan;
  now: Date;
  /** How far back events are kept for streaming: no reach goes further. */
  lookbackMs: number;
}

/** A stored event as the evaluator takes it: from JSON on PostgreSQL (ISO text times), rows on DuckDB. */
function storedEvent(row: Row): ProfileEvent {
  return {
    type: row._type as string,
    ts: new Date(row._ts as string | Date).getTime(),
    properties: row,
    id: row._id as string,
  };
}

/**
 * `p._id` is one of the text-array parameter `$1`: a semi-join on the id list. DuckDB hashes it (its
 * list_contains would compare every row with every id), PostgreSQL probes its index.
 */
function profileIdIn(dialect: Dialect): string {
  return dialect.engine === "postgres"
    ? "p._id = ANY(CAST($1 AS TEXT[]))"
    : "p._id IN (SELECT unnest(CAST($1 AS TEXT[])))";
}

/** A profile's columns by name (the schema's fields), as every message is built from them. */
function profileColumns(dialect: Dialect, schema: SchemaSnapshot): string[] {
  return ["_id", "_created_at", "_updated_at", ...schema.profileFields.keys()].map(dialect.ident);
}

/** The rows of the profiles that exist among `profileIds` (at most a few thousand), as the evaluation reads them. */
export async function readProfileRows(
  db: Executor & { dialect: Dialect },
  sandbox: string,
  schema: SchemaSnapshot,
  profileIds: readonly string[],
): Promise<Row[]> {
  const columns = profileColumns(db.dialect, schema).map((c) => `p.${c}`);
  return db.query<Row>(
    sandbox,
    `SELECT ${columns.join(", ")} FROM {profiles} AS p WHERE ${profileIdIn(db.dialect)}`,
    [profileIds],
  );
}

/**
 * Reads the state of profiles for evaluation against a streaming plan: each profile's row, its
 * memberships in the streamed segments and only the events its segments read (their types, each
 * within its reach), in one statement per 2,000 profiles. On PostgreSQL that is one probe per
 * profile of each index (profiles, memberships by profile, events by profile), whatever the size
 * of the store.
 */
export function profileStateReader(db: Executor & { dialect: Dialect }, options: ProfileStateOptions) {
  const now = options.now.getTime();
  // Event type → the earliest instant (epoch ms) any streamed segment reads it from.
  const since = new Map<string, number>();
  for (const segment of options.plan.segments) {
    for (const [type, ms] of segment.eventReach) {
      const from = now - Math.min(options.lookbackMs, ms);
      since.set(type, Math.min(since.get(type) ?? from, from));
    }
  }
  const reads = (type: string, ts: number) => ts >= (since.get(type) ?? Number.POSITIVE_INFINITY);
  const idIn = profileIdIn(db.dialect);
  const events = since.size
    ? `(SELECT ${db.dialect.aggregateRows("e")} FROM {events} AS e
         WHERE e._profile_id = p._id AND e._ts >= $3 AND e._type = ANY(CAST($4 AS TEXT[])))`
    : "NULL";
  const segmentIds = options.plan.segments.map((s) => s.id);
  const stateParams = (ids: readonly string[]) => {
    const params: unknown[] = [ids, segmentIds];
    if (since.size) params.push(new Date(Math.min(...since.values())), [...since.keys()]);
    return params;
  };
  // By name, so that a second branch can return the same shape with only the id: which of other
  // profiles exist, in the same statement.
  const columns = profileColumns(db.dialect, options.schema);
  const nulls = columns.slice(1).map(() => "NULL");
  const stateSelect = (extra: string) => `SELECT ${columns.map((c) => `p.${c}`).join(", ")},
      (SELECT ${db.dialect.aggregateRows("m")} FROM (SELECT segment_id, status, recheck_at FROM segment_memberships
        WHERE sandbox = $sandbox AND profile_id = p._id AND segment_id = ANY(CAST($2 AS TEXT[]))) AS m)
        AS "_memberships",
      ${events} AS "_events", TRUE AS "_state"${extra}
    FROM {profiles} AS p WHERE ${idIn}`;
  const stateSql = stateSelect("");
  // One row for all the others, their ids in an array: a row per id, its ~40 columns NULL, took
  // 0.6 s of the main thread's 30 s in pg's row parsing (a profile at 10,000 events/s).
  const existenceSelect = (param: number, extra: string) =>
    `SELECT NULL, ${nulls.join(", ")}, NULL, NULL, FALSE${extra},
       ARRAY(SELECT p._id FROM {profiles} AS p WHERE p._id = ANY(CAST($${param} AS TEXT[]))) AS "_found"`;

  function toState(row: Row): ProfileState {
    const { _memberships, _events, _state, ...profile } = row;
    const memberships = new Map<string, MembershipState>();
    for (const m of (_memberships as Row[] | null) ?? []) {
      const recheckAt = m.recheck_at == null ? undefined : new Date(m.recheck_at as string | Date).getTime();
      memberships.set(m.segment_id as string, { status: m.status as MembershipState["status"], recheckAt });
    }
    // One read from the earliest reach: types read from nearer are trimmed here.
    const events = ((_events as Row[] | null) ?? [])
      .map(storedEvent)
      .filter((e) => reads(e.type, e.ts as number));
    return { profile, events, memberships };
  }

  async function read(profileIds: readonly string[]): Promise<ProfileState[]> {
    const ids = [...new Set(profileIds)];
    const states: ProfileState[] = [];
    for (let i = 0; i < ids.length; i += CHUNK) {
      const params = stateParams(ids.slice(i, i + CHUNK));
      for (const row of await db.query<Row>(options.sandbox, stateSql, params, { prepared: true }))
        states.push(toState(row));
    }
    return states;
  }

  return {
    /** The states of the profiles that exist among `profileIds`. */
    read,
    /**
     * The states of the profiles that exist among `profileIds` and, on PostgreSQL in the same
     * statement, which of `others` exist (elsewhere `found` is absent: the caller's identity
     * resolution looks them up); with `withPlanStamp`, also the plan's stamp (PLAN_STAMP_SQL).
     */
    async readWithExistence(
      profileIds: readonly string[],
      others: readonly string[],
      withPlanStamp = false,
    ): Promise<{ states: ProfileState[]; found?: Set<string>; planStamp?: string }> {
      if (db.dialect.engine !== "postgres" || profileIds.length > CHUNK) {
        // `found` absent: the events' own resolution looks the others up.
        const states = await read(profileIds);
        if (!withPlanStamp) return { states };
        const [row] = await db.query<{ stamp: string }>(options.sandbox, `SELECT ${PLAN_STAMP_SQL} AS stamp`);
        return { states, planStamp: String(row?.stamp) };
      }
      const found = new Set<string>();
      const params = stateParams([...new Set(profileIds)]);
      params.push([...others]);
      // The stamp is the same on every row (an uncorrelated subquery, run once).
      const extra = withPlanStamp ? `, ${PLAN_STAMP_SQL} AS "_plan"` : "";
      const sql = `${stateSelect(`${extra}, NULL AS "_found"`)}\n UNION ALL\n ${existenceSelect(params.length, extra)}`;
      const states: ProfileState[] = [];
      let planStamp: string | undefined;
      for (const { _plan, _found, ...row } of await db.query<Row>(options.sandbox, sql, params, {
        prepared: true,
      })) {
        planStamp = _plan as string | undefined;
        if (row._state) states.push(toState(row));
        else for (const id of _found as string[]) found.add(id);
      }
      return planStamp === undefined ? { states, found } : { states, found, planStamp };
    },
    /** Whether some streamed segment reads events of this type. */
    readsType: (type: string) => since.has(type),
    /** Adds an event written after its profile's state was read, when the segments read it. */
    addEvent(state: ProfileState, write: EventWrite) {
      const ts = write.timestamp.getTime();
      if (reads(write.type, ts)) {
        state.events.push({ type: write.type, ts, properties: write.properties });
      }
    },
  };
}

export type ProfileStateReader = ReturnType<typeof profileStateReader>;
