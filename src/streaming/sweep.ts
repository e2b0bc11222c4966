import type { Logger } from "pino";
import { isHeraldError } from "../errors/index.ts";
import { loadSchema, type SchemaSnapshot } from "../schema/index.ts";
import { listSandboxes, type Store } from "../store/index.ts";
import type { StreamingIngest } from "./ingest-service.ts";
import type { PlanCache } from "./streaming-plan.ts";

export interface SweepOptions {
  store: Store;
  ingest: StreamingIngest;
  plans: PlanCache;
  logger?: Logger;
  /** The clock memberships are evaluated at (the ingestion's). */
  now?: () => Date;
  /** How often members are re-evaluated (default 60 s). */
  intervalMs?: number;
  /** Profiles per re-evaluation (default 1,000). */
  pageSize?: number;
}

/**
 * Time-based exits. A segment such as `exists(web.pageView within last 7 days)` stops holding a
 * week after the event, with no new record to trigger the streaming path. The sweep re-evaluates,
 * page by page, the current members of every streaming segment whose result depends on time
 * (windows, ages, birthdays) through the ingestion queue, so exits reach the outbox like any other
 * change — only those whose recheck time has come: when a segment reads the time only through
 * `within last` windows over events, the evaluation records when a member's next event leaves (or
 * enters) a window, and until then nothing but a new record can change the membership. Entries caused by time alone (a `not exists(...)` starting to hold) are left to the batch
 * evaluation, which would otherwise have to visit every profile.
 */
export function createSweeper(options: SweepOptions) {
  const pageSize = options.pageSize ?? 1_000;
  const clock = options.now ?? (() => new Date());
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<number> | undefined;

  async function sweepSandbox(sandbox: string): Promise<number> {
    let schema: SchemaSnapshot;
    try {
      schema = await loadSchema(options.store, sandbox);
    } catch (error) {
      // A sandbox created without a schema yet (no primary identity) holds no profiles to sweep.
      if (isHeraldError(error) && error.code === "no_primary_identity") return 0;
      throw error;
    }
    const plan = await options.plans.planFor(options.store, sandbox, schema);
    const segmentIds = plan.segments.filter((s) => s.timeDependent).map((s) => s.id);
    if (!segmentIds.length) return 0;
    let cursor = "";
    let changes = 0;
    for (;;) {
      const rows = await options.store.query<{ profile_id: string }>(
        sandbox,
        `SELECT DISTINCT profile_id FROM segment_memberships
          WHERE sandbox = $sandbox AND status = 'realized'
            AND ${options.store.dialect.inTextList("segment_id", 1)} AND profile_id > $2
            AND (recheck_at IS NULL OR recheck_at <= CAST($3 AS TIMESTAMPTZ))
          ORDER BY profile_id LIMIT ${pageSize}`,
        [segmentIds, cursor, clock()],
      );
      if (!rows.length) return changes;
      const result = await options.ingest.reevaluate(
        sandbox,
        schema,
        rows.map((r) => r.profile_id),
      );
      changes += result.changes.length;
      cursor = (rows[rows.length - 1] as { profile_id: string }).profile_id;
      if (rows.length < pageSize) return changes;
    }
  }

  async function sweepAll(): Promise<number> {
    let changes = 0;
    for (const { name } of await listSandboxes(options.store)) {
      try {
        changes += await sweepSandbox(name);
      } catch (error) {
        // One sandbox's failure must not hold back the time-based exits of the others.
        options.logger?.error(
          { err: error, sandbox: name },
          `time-based exit sweep of sandbox '${name}' failed; the other sandboxes are swept`,
        );
      }
    }
    return changes;
  }

  return {
    /**
     * One sweep of every sandbox now; resolves with the number of membership changes it made. A
     * sandbox whose sweep fails is logged, with its name, and the others are swept all the same.
     */
    sweepNow(): Promise<number> {
      sweeping ??= sweepAll().finally(() => {
        sweeping = undefined;
      });
      return sweeping;
    },
    start() {
      if (timer) return;
      timer = setInterval(() => {
        if (sweeping) return;
        this.sweepNow().catch((error: unknown) =>
          options.logger?.error({ err: error }, "time-based exit sweep failed"),
        );
      }, options.intervalMs ?? 60_000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await sweeping?.catch(() => 0);
    },
  };
}

export type Sweeper = ReturnType<typeof createSweeper>;
