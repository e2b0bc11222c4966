import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import {
  createActivationService,
  createDataflow,
  getRun,
  listRuns,
  type Run,
  runsStartedBefore,
  setDataflowStatus,
  startRun,
  updateDataflow,
} from "../../src/activation/index.ts";
import { recordDeliveredFiles } from "../../src/activation/runs.ts";
import { createAccount } from "../../src/destinations/index.ts";
import type { HeraldError } from "../../src/errors/index.ts";
import { createSegment } from "../../src/segments/index.ts";
import type { Store } from "../../src/store/index.ts";
import { activationFixture, dataflowFor, FRENCH, sandbox } from "../support/activation.ts";

const GERMAN = "german";
const silent = pino({ level: "silent" });

/**
 * The store as a slow tick sees it: its first read of the dataflows' segments returns only after
 * `resume()`, so the test decides what happens in between.
 */
function stallingStore(store: Store) {
  let resume = () => {};
  const resumed = new Promise<void>((resolve) => {
    resume = resolve;
  });
  let stall = () => {};
  const reached = new Promise<void>((resolve) => {
    stall = resolve;
  });
  let reads = 0;
  const stalling: Store = {
    ...store,
    query: async <T>(sandbox: string, sql: string, params?: readonly unknown[]) => {
      const rows = await store.query<T>(sandbox, sql, params);
      if (sql.includes("FROM dataflow_segments") && reads++ === 0) {
        stall();
        await resumed;
      }
      return rows;
    },
  };
  return { store: stalling, reached, resume, reads: () => reads };
}

/** The store with another process starting an export right after "export now" checked for runs in flight. */
function racingStore(store: Store, startElsewhere: () => Promise<unknown>) {
  let raced = false;
  const racing: Store = {
    ...store,
    query: async <T>(sandbox: string, sql: string, params?: readonly unknown[]) => {
      const rows = await store.query<T>(sandbox, sql, params);
      if (sql.includes("SELECT id, segment_id FROM runs") && !raced) {
        raced = true;
        await startElsewhere();
      }
      return rows;
    },
  };
  return racing;
}

/** The scheduler on a clock the test moves: what starts when, in which time zone, after restarts. */
describe("scheduler on a controllable clock", () => {
  let store: Store | undefined;
  let root = "";
  afterEach(async () => {
    await store?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  async function setup(
    schedule: Record<string, unknown>,
    createdAt: string,
    status = "enabled",
    serviceOptions: { maxConcurrentExports?: number } = {},
  ) {
    const fixture = await activationFixture("duckdb", 20);
    store = fixture.store;
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-schedule-"));
    const account = await createAccount(fixture.deps, sandbox, {
      destinationId: "local",
      name: "folder",
      connection: { root },
    });
    const definition = (segments: { segmentId: string; schedule: Record<string, unknown> }[]) =>
      dataflowFor(account.id, {
        fileOptions: { compression: "none" },
        segments: segments.map((s) => ({ ...s, fileNameTemplate: "%SEGMENT_ID%_%DATETIME%" })),
        status,
      });
    const dataflow = await createDataflow(
      fixture.deps,
      sandbox,
      definition([{ segmentId: FRENCH, schedule }]),
      new Date(createdAt),
    );
    let clock = new Date(createdAt);
    const service = () =>
      createActivationService(fixture.deps, { logger: silent, now: () => clock, ...serviceOptions });
    let current = service();
    /** Moves the clock, runs one scheduler pass, waits for the exports; returns their scheduled times. */
    const tickAt = async (iso: string) => {
      clock = new Date(iso);
      const started = await current.tick();
      await current.idle();
      return started.map((r) => [r.scheduledFor.toISOString(), r.trigger]);
    };
    return {
      ...fixture,
      dataflow,
      tickAt,
      restart: () => {
        current = service();
        return current;
      },
      service: () => current,
      setClock: (iso: string) => {
        clock = new Date(iso);
      },
      createGermanSegment: () =>
        createSegment(fixture.store, sandbox, {
          id: GERMAN,
          name: "German customers",
          definition: 'homeAddress.countryCode = "DE"',
        }),
      setStatus: (status: "enabled" | "disabled", iso: string) =>
        setDataflowStatus(fixture.store, sandbox, dataflow.id, status, new Date(iso)),
      /** Replaces the dataflow's segments and schedules at `iso`, keeping its status. */
      editSegments: (segments: { segmentId: string; schedule: Record<string, unknown> }[], iso: string) =>
        updateDataflow(
          fixture.deps,
          sandbox,
          dataflow.id,
          { ...definition(segments), status: undefined },
          new Date(iso),
        ),
      /** A run of the segment whose last heartbeat was at `iso` (its process stopped then, or is alive). */
      leftRunningSince: (iso: string, segmentId = FRENCH, dataflowId = dataflow.id) =>
        startRun(fixture.store, sandbox, {
          dataflowId,
          segmentId,
          trigger: "schedule",
          scheduledFor: new Date(iso),
          now: new Date(iso),
        }),
      files: () => fs.readdirSync(root).sort(),
      /** A second dataflow of the French segment to the same folder, listed after the first. */
      addDataflow: (schedule: Record<string, unknown>) =>
        createDataflow(
          fixture.deps,
          sandbox,
          { ...definition([{ segmentId: FRENCH, schedule }]), name: "French customers to the printer" },
          clock,
        ),
      /** Moves the clock, reports the French segment evaluated, waits for the exports; returns their dataflows. */
      evaluatedAt: async (iso: string) => {
        clock = new Date(iso);
        const started = await current.onSegmentEvaluated(sandbox, FRENCH);
        await current.idle();
        return started.map((r) => r.dataflowId);
      },
    };
  }

  /** A dataflow exporting the French and the German segment daily, created at noon on 1 November. */
  async function dailyFrenchAndGerman() {
    const daily = { frequency: "daily", time: "06:00", timezone: "UTC" };
    const s = await setup(daily, "2026-11-01T12:00:00Z");
    await s.createGermanSegment();
    await s.editSegments(
      [
        { segmentId: FRENCH, schedule: daily },
        { segmentId: GERMAN, schedule: daily },
      ],
      "2026-11-01T12:00:00Z",
    );
    return s;
  }

  it("runs a daily export at the local time across a daylight-saving change, once per day", async () => {
    const s = await setup(
      { frequency: "daily", time: "06:00", timezone: "Europe/Paris" },
      "2026-10-23T12:00:00Z",
    );
    expect(await s.tickAt("2026-10-24T03:59:00Z")).toEqual([]);
    // Summer time: 06:00 in Paris is 04:00 UTC.
    expect(await s.tickAt("2026-10-24T04:00:30Z")).toEqual([["2026-10-24T04:00:00.000Z", "schedule"]]);
    expect(await s.tickAt("2026-10-24T04:01:00Z")).toEqual([]);
    // The clocks go back on 25 October: 06:00 is now 05:00 UTC.
    expect(await s.tickAt("2026-10-25T04:30:00Z")).toEqual([]);
    expect(await s.tickAt("2026-10-25T05:00:10Z")).toEqual([["2026-10-25T05:00:00.000Z", "schedule"]]);
    expect(s.files()).toEqual(["french_20261024040000.csv", "french_20261025050000.csv"]);
  });

  it("runs every 6 hours within its start and end dates", async () => {
    const s = await setup(
      { frequency: "hourly", every: 6, timezone: "UTC", startDate: "2026-11-02", endDate: "2026-11-03" },
      "2026-11-01T00:00:00Z",
    );
    expect(await s.tickAt("2026-11-01T18:00:10Z")).toEqual([]);
    const seen: unknown[] = [];
    for (const hour of ["00", "06", "12", "18"]) seen.push(...(await s.tickAt(`2026-11-02T${hour}:00:05Z`)));
    expect(seen).toEqual(["00", "06", "12", "18"].map((h) => [`2026-11-02T${h}:00:00.000Z`, "schedule"]));
    // The end date is exclusive: nothing on 3 November.
    expect(await s.tickAt("2026-11-03T00:00:05Z")).toEqual([]);
  });

  it("refuses a schedule set with no run left, and keeps one that has run its course through an edit", async () => {
    const s = await setup({ frequency: "once", at: "2026-11-02T06:00:00Z" }, "2026-11-01T00:00:00Z");
    expect(await s.tickAt("2026-11-02T06:00:05Z")).toEqual([["2026-11-02T06:00:00.000Z", "schedule"]]);
    // Renaming the dataflow later keeps its once, now past: it is not set anew.
    const once = { frequency: "once", at: "2026-11-02T06:00:00Z" };
    await expect(
      s.editSegments([{ segmentId: FRENCH, schedule: once }], "2026-11-05T00:00:00Z"),
    ).resolves.toBeDefined();
    // Set anew after its time, or ending before today, a schedule would never run: refused by name.
    const refused = async (schedule: Record<string, unknown>) =>
      s
        .editSegments([{ segmentId: FRENCH, schedule }], "2026-11-05T00:00:00Z")
        .then(() => [])
        .catch((error: HeraldError) => error.issues.map((i) => i.field));
    expect(await refused({ frequency: "once", at: "2026-11-04T06:00:00Z" })).toEqual([
      "segments.0.schedule.at",
    ]);
    expect(await refused({ frequency: "daily", time: "06:00", endDate: "2026-11-05" })).toEqual([
      "segments.0.schedule.endDate",
    ]);
    expect(await refused({ frequency: "daily", time: "06:00", endDate: "2026-11-06" })).toEqual([]);
  });

  it("starts a missed export once after a restart, marks abandoned runs failed, and never runs twice at once", async () => {
    const s = await setup({ frequency: "daily", time: "06:00", timezone: "UTC" }, "2026-11-01T12:00:00Z");
    // A run left "running" by a process that died (no heartbeat since).
    const abandoned = await s.leftRunningSince("2026-11-01T06:00:00Z");
    // Herald was down over 2 and 3 November's 06:00; it comes back at 09:00 on the 3rd.
    const restarted = s.restart();
    await restarted.start();
    await restarted.stop();
    const runs = await listRuns(s.store, sandbox, { limit: 10 });
    expect(runs.find((r: Run) => r.id === abandoned.id)?.status).toBe("failed");
    expect(await s.tickAt("2026-11-03T09:00:00Z")).toEqual([["2026-11-03T06:00:00.000Z", "catch_up"]]);
    expect(await s.tickAt("2026-11-03T09:00:30Z")).toEqual([]);

    // "Export now" while an export of the segment is in flight is refused.
    const [first] = await s.service().triggerNow(sandbox, s.dataflow.id);
    await expect(s.service().triggerNow(sandbox, s.dataflow.id)).rejects.toThrow(/already running/);
    await s.service().idle();
    expect(first?.trigger).toBe("manual");
  });

  it("refuses export now of every segment when one has a run in flight, starting none", async () => {
    const s = await dailyFrenchAndGerman();
    const busy = await s.leftRunningSince("2026-11-01T12:00:00Z", GERMAN);
    await expect(s.service().triggerNow(sandbox, s.dataflow.id)).rejects.toMatchObject({
      kind: "conflict",
      code: "run_in_progress",
      message: expect.stringMatching(new RegExp(`'${GERMAN}' \\(run ${busy.id}\\).*nothing was started`)),
    });
    await s.service().idle();
    expect((await listRuns(s.store, sandbox)).map((r) => r.id)).toEqual([busy.id]);
  });

  it("refuses export now and a rerun on a paused dataflow, naming it, until it resumes", async () => {
    const s = await setup({ frequency: "daily", time: "06:00", timezone: "UTC" }, "2026-11-01T12:00:00Z");
    const [earlier] = await s.service().triggerNow(sandbox, s.dataflow.id);
    await s.service().idle();
    await s.setStatus("disabled", "2026-11-01T13:00:00Z");
    const refusal = {
      kind: "conflict",
      code: "dataflow_disabled",
      message: expect.stringMatching(/is paused/),
    };
    await expect(s.service().triggerNow(sandbox, s.dataflow.id)).rejects.toMatchObject(refusal);
    await expect(s.service().rerun(sandbox, earlier?.id ?? "")).rejects.toMatchObject(refusal);
    expect(await listRuns(s.store, sandbox)).toHaveLength(1);
    await s.setStatus("enabled", "2026-11-01T14:00:00Z");
    const [resumed] = await s.service().triggerNow(sandbox, s.dataflow.id);
    await s.service().idle();
    expect((await getRun(s.store, sandbox, resumed?.id ?? "")).status).toBe("succeeded");
  });

  it("names the runs export now started when another process starts a later segment meanwhile", async () => {
    const s = await dailyFrenchAndGerman();
    const store = racingStore(s.store, () => s.leftRunningSince("2026-11-01T12:00:00Z", GERMAN));
    const service = createActivationService({ ...s.deps, store }, { logger: silent });
    const failure = service.triggerNow(sandbox, s.dataflow.id);
    await expect(failure).rejects.toMatchObject({ code: "run_in_progress" });
    await service.idle();
    const french = (await listRuns(s.store, sandbox)).find((r) => r.segmentId === FRENCH);
    await expect(failure).rejects.toThrow(`already started: run ${french?.id} of segment '${FRENCH}'`);
    // The caller (API, CLI) gets the started runs to audit them.
    const error = await failure.catch((e: unknown) => e);
    expect(runsStartedBefore(error).map((r) => r.id)).toEqual([french?.id]);
  });

  it("fails a run whose heartbeat stopped at the next tick, not only at start, so its segment exports again", async () => {
    const s = await setup({ frequency: "daily", time: "06:00", timezone: "UTC" }, "2026-11-01T12:00:00Z");
    // Herald crashed at 05:58 during an export and its service manager restarted it at once.
    const abandoned = await s.leftRunningSince("2026-11-02T05:58:00Z");
    const status = async () => (await getRun(s.store, sandbox, abandoned.id)).status;
    // 30 s without a heartbeat may be a busy process: the run is left alone.
    expect(await s.tickAt("2026-11-02T05:58:30Z")).toEqual([]);
    expect(await status()).toBe("running");
    // Two minutes without one: the process is gone; the run is failed and 06:00 exports.
    expect(await s.tickAt("2026-11-02T06:00:00Z")).toEqual([["2026-11-02T06:00:00.000Z", "schedule"]]);
    const failed = await getRun(s.store, sandbox, abandoned.id);
    expect(failed.status).toBe("failed");
    expect(failed.errors).toEqual([
      expect.stringMatching(
        /process running this export stopped \(its heartbeat stopped at 2026-11-02T05:58:00.000Z\)/,
      ),
    ]);
  });

  it("closes an abandoned run that had delivered files as partially succeeded, naming them; export now frees a segment held by a dead run", async () => {
    const s = await setup({ frequency: "daily", time: "06:00", timezone: "UTC" }, "2026-11-02T05:59:00Z");
    // A process killed at 05:10 after delivering one file of the run.
    const killed = await s.leftRunningSince("2026-11-02T05:10:00Z");
    const part = {
      name: "French-customers_1.csv",
      location: "out/French-customers_1.csv",
      rows: 30,
      bytes: 900,
      sha256: "ab".repeat(32),
    };
    await recordDeliveredFiles(s.store, sandbox, killed.id, [part]);
    // Export now at 05:59 does not wait for the next tick: the dead run no longer holds the segment.
    const [now] = await s.service().triggerNow(sandbox, s.dataflow.id);
    await s.service().idle();
    expect(now?.status).not.toBe("failed");
    expect(await getRun(s.store, sandbox, killed.id)).toMatchObject({
      status: "partially_succeeded",
      activated: 30,
      files: [part],
      errors: [
        expect.stringMatching(
          /stopped at 2026-11-02T05:10:00.000Z\) after delivering 1 file \(French-customers_1.csv\): they hold part of the audience, with no manifest/,
        ),
      ],
    });
  });

  it("starts a dataflow activated after an occurrence at its next occurrence; a once-now export at once", async () => {
    const daily = { frequency: "daily", time: "06:00", timezone: "UTC" };
    // A draft saved on Monday (a once-now German export added to it), activated on Wednesday at noon.
    const s = await setup(daily, "2026-11-02T10:00:00Z", "draft");
    await s.createGermanSegment();
    await s.editSegments(
      [
        { segmentId: FRENCH, schedule: daily },
        { segmentId: GERMAN, schedule: { frequency: "once" } },
      ],
      "2026-11-02T11:00:00Z",
    );
    expect(await s.tickAt("2026-11-03T06:00:05Z")).toEqual([]);
    await s.setStatus("enabled", "2026-11-04T12:00:00Z");
    // Only the once-now export (its time is the dataflow's creation, so it counts as late).
    expect(await s.tickAt("2026-11-04T12:00:10Z")).toEqual([["2026-11-02T10:00:00.000Z", "catch_up"]]);
    expect(await s.tickAt("2026-11-05T06:00:05Z")).toEqual([["2026-11-05T06:00:00.000Z", "schedule"]]);
  });

  it("does not replay an occurrence missed while paused when the dataflow resumes", async () => {
    const s = await setup({ frequency: "daily", time: "06:00", timezone: "UTC" }, "2026-11-01T12:00:00Z");
    expect(await s.tickAt("2026-11-02T06:00:05Z")).toEqual([["2026-11-02T06:00:00.000Z", "schedule"]]);
    await s.setStatus("disabled", "2026-11-02T12:00:00Z");
    expect(await s.tickAt("2026-11-03T06:00:05Z")).toEqual([]);
    await s.setStatus("enabled", "2026-11-03T09:00:00Z");
    expect(await s.tickAt("2026-11-03T09:00:10Z")).toEqual([]);
    expect(await s.tickAt("2026-11-04T06:00:05Z")).toEqual([["2026-11-04T06:00:00.000Z", "schedule"]]);
  });

  it("starts a segment added or rescheduled by an edit at its next occurrence", async () => {
    const daily = (time: string) => ({ frequency: "daily", time, timezone: "UTC" });
    const s = await setup(daily("06:00"), "2026-11-01T12:00:00Z");
    await s.createGermanSegment();
    expect(await s.tickAt("2026-11-02T06:00:05Z")).toEqual([["2026-11-02T06:00:00.000Z", "schedule"]]);
    // At noon: the French export moves to 08:00 (passed today) and a German one joins at 06:00.
    await s.editSegments(
      [
        { segmentId: FRENCH, schedule: daily("08:00") },
        { segmentId: GERMAN, schedule: daily("06:00") },
      ],
      "2026-11-02T12:00:00Z",
    );
    expect(await s.tickAt("2026-11-02T12:00:10Z")).toEqual([]);
    expect(await s.tickAt("2026-11-03T06:00:05Z")).toEqual([["2026-11-03T06:00:00.000Z", "schedule"]]);
    expect(await s.tickAt("2026-11-03T08:00:05Z")).toEqual([["2026-11-03T08:00:00.000Z", "schedule"]]);
  });

  it("runs a once-now export set by an edit where a recurring schedule had run", async () => {
    const s = await setup({ frequency: "daily", time: "06:00", timezone: "UTC" }, "2026-11-01T12:00:00Z");
    expect(await s.tickAt("2026-11-02T06:00:05Z")).toEqual([["2026-11-02T06:00:00.000Z", "schedule"]]);
    await s.editSegments([{ segmentId: FRENCH, schedule: { frequency: "once" } }], "2026-11-02T12:00:00Z");
    const started = await s.tickAt("2026-11-02T12:00:10Z");
    expect(started).toHaveLength(1);
    expect(await s.tickAt("2026-11-03T06:00:05Z")).toEqual([]);
  });

  it("queues the exports due at once beyond the concurrency limit and runs them one after another", async () => {
    const daily = { frequency: "daily", time: "06:00", timezone: "UTC" };
    const s = await setup(daily, "2026-11-01T12:00:00Z", "enabled", { maxConcurrentExports: 1 });
    await s.addDataflow(daily);
    await s.addDataflow(daily);
    s.setClock("2026-11-02T06:00:05Z");
    const started = await s.service().tick();
    expect(started.map((r) => r.status)).toEqual(["running", "queued", "queued"]);
    await s.service().idle();
    const runs = await Promise.all(started.map((r) => getRun(s.store, sandbox, r.id)));
    expect(runs.map((r) => r.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    // One at a time: each started once the one before had finished.
    for (const [i, run] of runs.entries()) {
      if (i > 0)
        expect(run.startedAt.getTime()).toBeGreaterThanOrEqual(runs[i - 1]?.finishedAt?.getTime() ?? 0);
    }
  });

  it("starts a due occurrence once when two ticks overlap (two Herald processes on one database)", async () => {
    const s = await setup({ frequency: "daily", time: "06:00", timezone: "UTC" }, "2026-11-01T12:00:00Z");
    const slow = stallingStore(s.store);
    const other = createActivationService(
      { ...s.deps, store: slow.store },
      { logger: silent, now: () => new Date("2026-11-02T06:00:05Z") },
    );
    // The other process reads the schedules, then stalls while this one starts and finishes 06:00.
    const otherTick = other.tick();
    await slow.reached;
    expect(await s.tickAt("2026-11-02T06:00:05Z")).toEqual([["2026-11-02T06:00:00.000Z", "schedule"]]);
    slow.resume();
    expect(await otherTick).toEqual([]);
    await other.idle();
    expect(await listRuns(s.store, sandbox)).toHaveLength(1);
  });

  it("does not start a tick while the previous one is still running", async () => {
    const s = await setup({ frequency: "daily", time: "06:00", timezone: "UTC" }, "2026-11-01T12:00:00Z");
    const slow = stallingStore(s.store);
    const service = createActivationService(
      { ...s.deps, store: slow.store },
      { logger: silent, now: () => new Date("2026-11-02T06:00:05Z"), tickMs: 5 },
    );
    await service.start();
    await slow.reached;
    await new Promise((resolve) => setTimeout(resolve, 100)); // twenty intervals
    expect(slow.reads()).toBe(1);
    slow.resume();
    await service.stop();
    expect(await listRuns(s.store, sandbox)).toHaveLength(1);
  });

  it("exports right after the segment's evaluation when scheduled afterEvaluation", async () => {
    const s = await setup({ frequency: "afterEvaluation", timezone: "UTC" }, "2026-11-01T12:00:00Z");
    expect(await s.tickAt("2026-11-02T00:00:00Z")).toEqual([]);
    const runs = await s.service().onSegmentEvaluated(sandbox, FRENCH);
    await s.service().idle();
    expect(runs.map((r) => r.trigger)).toEqual(["evaluation"]);
    expect((await listRuns(s.store, sandbox, { limit: 10 }))[0]?.status).toBe("succeeded");
    expect(await s.service().onSegmentEvaluated(sandbox, "another-segment")).toEqual([]);
  });

  it("still exports the other dataflows after evaluation when one has its export in flight", async () => {
    const afterEvaluation = { frequency: "afterEvaluation", timezone: "UTC" };
    const s = await setup(afterEvaluation, "2026-11-01T12:00:00Z");
    const printer = await s.addDataflow(afterEvaluation);
    const busy = await s.leftRunningSince("2026-11-02T02:00:00Z");
    expect(await s.evaluatedAt("2026-11-02T02:00:10Z")).toEqual([printer.id]);
    expect((await getRun(s.store, sandbox, busy.id)).status).toBe("running");
  });

  it("does not export after evaluation outside the schedule's start and end dates", async () => {
    const s = await setup(
      {
        frequency: "afterEvaluation",
        timezone: "Europe/Paris",
        startDate: "2026-11-03",
        endDate: "2026-11-05",
      },
      "2026-11-01T12:00:00Z",
    );
    // 23:59 on 2 November in Paris: the day before the start date.
    expect(await s.evaluatedAt("2026-11-02T22:59:00Z")).toEqual([]);
    expect(await s.evaluatedAt("2026-11-02T23:00:00Z")).toEqual([s.dataflow.id]);
    expect(await s.evaluatedAt("2026-11-04T22:59:00Z")).toEqual([s.dataflow.id]);
    // Midnight on 5 November in Paris: the end date is not included.
    expect(await s.evaluatedAt("2026-11-04T23:00:00Z")).toEqual([]);
  });
});
