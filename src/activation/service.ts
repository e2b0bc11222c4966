import type { Logger } from "pino";
import { conflict, HeraldError, isHeraldError } from "../errors/index.ts";
import { listSandboxes } from "../store/index.ts";
import { createAlertNotifier } from "./alerts/index.ts";
import { type Dataflow, getDataflow, listDataflows } from "./dataflows.ts";
import { type ActivationDeps, beginSegmentExport } from "./execute-run.ts";
import { exportSlots } from "./export-slots.ts";
import { refuseViolatingDataflow } from "./governance.ts";
import { failAbandonedRuns, getRun, type Run, type RunTrigger, runsInFlight } from "./runs.ts";
import { dueRuns, type Schedule } from "./schedule/index.ts";
import { epochDayAt, epochDayOfIsoDate } from "./schedule/zoned-time.ts";

/** True when `at` falls on a local day of the schedule's [startDate, endDate) window. */
function withinDateWindow(schedule: Schedule, at: Date): boolean {
  const day = epochDayAt(at, schedule.timezone);
  const fromStart = !schedule.startDate || day >= epochDayOfIsoDate(schedule.startDate);
  const beforeEnd = !schedule.endDate || day < epochDayOfIsoDate(schedule.endDate);
  return fromStart && beforeEnd;
}

export interface ActivationServiceOptions {
  logger: Logger;
  /** The clock; tests pass a controllable one. */
  now?: () => Date;
  /** How often the scheduler looks for due exports (default 30 s). */
  tickMs?: number;
  /**
   * A run whose heartbeat is older than this was abandoned by a process that stopped (default 60 s:
   * runs heartbeat every 10 s, so several heartbeats were missed).
   */
  staleAfterMs?: number;
  /** Exports running at once; the others wait as `queued` (default 2: one per core here). */
  maxConcurrentExports?: number;
  /** Waits before retrying an alert that could not be sent (default 1 s, then 5 s). */
  alertRetryDelaysMs?: readonly number[];
}

/**
 * Runs file exports when they are due, on demand ("export now") and after a segment's evaluation,
 * and sends the alerts subscribed to on their runs (./alerts).
 * It survives restarts: at start and at every tick, runs abandoned by a stopped process are failed
 * (else they would block their segment's exports), and an export missed while Herald was down runs
 * once. Exports in flight are tracked so shutdown can wait for them.
 */
export function createActivationService(deps: ActivationDeps, options: ActivationServiceOptions) {
  const now = options.now ?? (() => new Date());
  const inFlight = new Set<Promise<Run>>();
  const runDeps: ActivationDeps = {
    logger: options.logger,
    slots: exportSlots(options.maxConcurrentExports ?? 1),
    ...deps,
  };
  const alerts = createAlertNotifier(runDeps, {
    logger: options.logger,
    now,
    ...(options.alertRetryDelaysMs ? { retryDelaysMs: options.alertRetryDelaysMs } : {}),
  });
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  // Aborts the exports this service started (`cancel`): each run ends failed with the reason.
  const cancelling = new AbortController();

  function track(sandbox: string, completion: Promise<Run>) {
    completion.then((run) => alerts.finished(sandbox, run)).catch(() => {});
    const tracked = completion
      .catch((error: unknown) => {
        options.logger.error({ err: error }, "export failed outside its run record");
        throw error;
      })
      .finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    tracked.catch(() => {});
  }

  async function begin(
    sandbox: string,
    dataflow: Dataflow,
    segmentId: string,
    trigger: RunTrigger,
    scheduledFor: Date,
  ) {
    const { run, completion } = await beginSegmentExport(runDeps, sandbox, {
      dataflowId: dataflow.id,
      segmentId,
      trigger,
      scheduledFor,
      signal: cancelling.signal,
    });
    options.logger.info(
      { sandbox, dataflow: dataflow.id, segment: segmentId, run: run.id, trigger },
      "export started",
    );
    alerts.started(sandbox, run);
    track(sandbox, completion);
    return run;
  }

  /** Starts an export, or logs and skips it (undefined) when the segment's previous one still runs. */
  async function beginUnlessRunning(
    sandbox: string,
    dataflow: Dataflow,
    segmentId: string,
    trigger: RunTrigger,
    scheduledFor: Date,
  ) {
    try {
      return await begin(sandbox, dataflow, segmentId, trigger, scheduledFor);
    } catch (error) {
      if (!isHeraldError(error) || error.code !== "run_in_progress") throw error;
      options.logger.warn(
        { sandbox, dataflow: dataflow.id, segment: segmentId, trigger, scheduledFor },
        "skipped: the previous export is still running",
      );
      return undefined;
    }
  }

  /**
   * Refuses, before anything starts, when any of the segments has an export in flight: "export now"
   * of several segments then starts all of them or none.
   */
  async function refuseBusySegments(sandbox: string, dataflow: Dataflow, segmentIds: readonly string[]) {
    // A run its process left behind (killed, no heartbeat since) no longer holds its segment.
    await failAbandoned(sandbox, now());
    const busy = (await runsInFlight(deps.store, sandbox, dataflow.id))
      .filter((run) => segmentIds.includes(run.segmentId))
      .map((run) => `segment '${run.segmentId}' (run ${run.id})`);
    if (busy.length)
      throw conflict(
        "run_in_progress",
        `An export of dataflow '${dataflow.name}' is already running for ${busy.join(", ")}; wait for it to finish (nothing was started)`,
      );
  }

  /** Fails the runs a stopped process left in flight: they would block their segment's exports. */
  async function failAbandoned(sandbox: string, at: Date) {
    const failed = await failAbandonedRuns(deps.store, sandbox, options.staleAfterMs ?? 60_000, at);
    if (failed.length) {
      options.logger.warn({ sandbox, runs: failed }, "runs abandoned by a stopped Herald marked failed");
      alerts.abandoned(sandbox, failed);
    }
  }

  /** One pass of the scheduler: fails abandoned runs, then starts every export whose time has come. */
  async function tick(): Promise<Run[]> {
    const started: Run[] = [];
    const at = now();
    for (const { name: sandbox } of await listSandboxes(deps.store)) {
      await failAbandoned(sandbox, at);
      await alerts.delayed(sandbox);
      for (const dataflow of await listDataflows(deps.store, sandbox)) {
        if (dataflow.status !== "enabled") continue;
        for (const segment of dataflow.segments) {
          const due = dueRuns(segment.schedule, segment.lastScheduledFor, at, dataflow.createdAt);
          if (!due) continue;
          const missed = at.getTime() - due.getTime() > (options.tickMs ?? 30_000) * 2;
          // Claim the occurrence first: whatever happens next, it is not started twice. The claim
          // holds only if no other tick (of this or another process) claimed it since the listing.
          const claimed = await deps.store.writeAll(sandbox, [
            {
              sql: `UPDATE dataflow_segments SET last_scheduled_for = $1
                    WHERE sandbox = $sandbox AND dataflow_id = $2 AND segment_id = $3
                      AND (last_scheduled_for IS NULL OR last_scheduled_for < $1)
                    RETURNING segment_id`,
              params: [due, dataflow.id, segment.segmentId],
            },
          ]);
          if (!claimed.length) continue;
          const trigger = missed ? "catch_up" : "schedule";
          const run = await beginUnlessRunning(sandbox, dataflow, segment.segmentId, trigger, due);
          if (run) started.push(run);
        }
      }
    }
    return started;
  }

  return {
    tick,
    /** "Export now": one extra export of each segment (or one), without moving the schedule. */
    async triggerNow(sandbox: string, dataflowId: string, segmentId?: string): Promise<Run[]> {
      const dataflow = await getDataflow(deps.store, sandbox, dataflowId);
      refuseUnlessExportable(dataflow);
      // A violation refuses the request itself (409 policy_violation), as activating does, rather
      // than starting runs that fail.
      await refuseViolatingDataflow(runDeps, sandbox, dataflow);
      const segments = dataflow.segments.filter((s) => !segmentId || s.segmentId === segmentId);
      if (!segments.length)
        throw conflict(
          "segment_not_in_dataflow",
          `Segment '${segmentId}' is not part of dataflow '${dataflow.name}'`,
        );
      await refuseBusySegments(
        sandbox,
        dataflow,
        segments.map((s) => s.segmentId),
      );
      const runs: Run[] = [];
      for (const s of segments) {
        try {
          runs.push(await begin(sandbox, dataflow, s.segmentId, "manual", now()));
        } catch (error) {
          // Another process started a segment since the check: the caller learns what did start.
          if (!runs.length || !isHeraldError(error)) throw error;
          throw new PartialStartError(error, runs);
        }
      }
      return runs;
    },
    /**
     * Runs a past run again for the same scheduled time: the same file names, and (memberships
     * unchanged) the same bytes, replacing what the first run delivered.
     */
    async rerun(sandbox: string, runId: string): Promise<Run> {
      const previous = await getRun(deps.store, sandbox, runId);
      const dataflow = await getDataflow(deps.store, sandbox, previous.dataflowId);
      refuseUnlessExportable(dataflow);
      await refuseViolatingDataflow(runDeps, sandbox, dataflow);
      await refuseBusySegments(sandbox, dataflow, [previous.segmentId]);
      return begin(sandbox, dataflow, previous.segmentId, "manual", previous.scheduledFor);
    },
    /** Called by segmentation when a segment's evaluation has written its memberships. */
    async onSegmentEvaluated(sandbox: string, segmentId: string): Promise<Run[]> {
      const runs: Run[] = [];
      const at = now();
      for (const dataflow of await listDataflows(deps.store, sandbox)) {
        if (dataflow.status !== "enabled") continue;
        for (const s of dataflow.segments) {
          if (s.segmentId !== segmentId || s.schedule.frequency !== "afterEvaluation") continue;
          if (!withinDateWindow(s.schedule, at)) continue;
          // One dataflow still exporting this segment does not hold back the others.
          const run = await beginUnlessRunning(sandbox, dataflow, s.segmentId, "evaluation", at);
          if (run) runs.push(run);
        }
      }
      return runs;
    },
    /** Fails runs left behind by a dead process, then ticks on an interval. */
    async start(): Promise<void> {
      for (const { name } of await listSandboxes(deps.store)) await failAbandoned(name, now());
      const loop = () => {
        if (ticking) return; // the previous tick is still going: the next interval tries again
        ticking = tick()
          .then(() => undefined)
          .catch((error: unknown) => options.logger.error({ err: error }, "scheduler tick failed"))
          .finally(() => {
            ticking = undefined;
          });
      };
      loop();
      timer = setInterval(loop, options.tickMs ?? 30_000);
      timer.unref();
    },
    /**
     * Stops the exports in flight (e.g. Ctrl-C in `herald runs trigger`): each ends failed with
     * `reason`, its temporary files removed; the files it had delivered stay, listed on its run.
     */
    cancel(reason: string): void {
      cancelling.abort(new HeraldError("conflict", "export_cancelled", reason));
    },
    /** Resolves when every export in flight has finished. */
    async idle(): Promise<void> {
      await ticking;
      while (inFlight.size) await Promise.allSettled([...inFlight]);
      await alerts.idle();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      await ticking;
      await Promise.allSettled([...inFlight]);
      await alerts.idle();
    },
  };
}

export type ActivationService = ReturnType<typeof createActivationService>;

/**
 * Export now refused part-way (another process started a later segment meanwhile): the runs it
 * did start go on, named in the message and given to the caller, which audits them.
 */
export class PartialStartError extends HeraldError {
  readonly started: readonly Run[];
  constructor(cause: HeraldError, started: readonly Run[]) {
    const names = started.map((r) => `run ${r.id} of segment '${r.segmentId}'`).join(", ");
    super(cause.kind, cause.code, `${cause.message}; already started: ${names}`, cause.issues);
    this.started = started;
  }
}

/** The runs an export now started before it failed (none for any other error). */
export const runsStartedBefore = (error: unknown): readonly Run[] =>
  error instanceof PartialStartError ? error.started : [];

/**
 * An export on demand (export now, a rerun) goes out only where the scheduler would send one: a
 * draft or a paused dataflow sends nothing until it is activated or resumed, and a streaming one
 * sends its changes as they happen, not files.
 */
function refuseUnlessExportable(dataflow: Dataflow): void {
  if (dataflow.status === "draft")
    throw conflict("dataflow_draft", `Dataflow '${dataflow.name}' is a draft; activate it first`);
  if (dataflow.status === "disabled")
    throw conflict("dataflow_disabled", `Dataflow '${dataflow.name}' is paused (disabled); resume it first`);
  if (dataflow.segments.some((s) => s.schedule.frequency === "streaming"))
    throw conflict(
      "dataflow_streaming",
      `Dataflow '${dataflow.name}' streams membership changes as they happen; it has no files to export now`,
    );
}
