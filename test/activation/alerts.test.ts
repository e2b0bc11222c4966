import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createAlertSubscription, listAlertDeliveries } from "../../src/activation/alerts/index.ts";
import { createActivationService, createDataflow, listRuns, startRun } from "../../src/activation/index.ts";
import { createAccount } from "../../src/destinations/index.ts";
import type { Store } from "../../src/store/index.ts";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { activationFixture, dataflowFor, FRENCH, sandbox } from "../support/activation.ts";
import { apiFor } from "../support/api.ts";
import { engines } from "../support/stores.ts";

/** Alerts on runs, POSTed to a real HTTP endpoint on loopback as a chat webhook would receive them. */
let recorder: HttpRecorder;
beforeAll(async () => {
  recorder = await startHttpRecorder();
});
afterAll(async () => {
  await recorder?.close();
});

interface AlertBody {
  text: string;
  event: string;
  dataflow: { name: string };
  segment: { id: string; name: string };
  run: { id: string; status: string; received: number; activated: number; skippedPercent: number };
}
const alerts = () => recorder.requests.filter((r) => r.path === "/alerts").map((r) => r.body as AlertBody);

describe.each(engines)("alerts on export runs, %s", (engine) => {
  let store: Store | undefined;
  let root = "";
  afterEach(async () => {
    await store?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  async function setup(events: string[], dataflowOverrides: Record<string, unknown> = {}) {
    const fixture = await activationFixture(engine);
    store = fixture.store;
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-alerts-"));
    fs.mkdirSync(path.join(root, "out"));
    const files = await createAccount(fixture.deps, sandbox, {
      destinationId: "local",
      name: "pickup",
      connection: { root },
    });
    const dataflow = await createDataflow(
      fixture.deps,
      sandbox,
      dataflowFor(files.id, {
        details: { folderPath: "out" },
        fileOptions: { compression: "none" },
        ...dataflowOverrides,
      }),
    );
    const ops = await createAccount(fixture.deps, sandbox, {
      destinationId: "http-api",
      name: "ops channel",
      connection: { url: `${recorder.url}/alerts` },
    });
    const subscription = await createAlertSubscription(fixture.deps, sandbox, {
      name: "ops",
      accountId: ops.id,
      events,
    });
    recorder.requests.length = 0;
    let clock = new Date("2026-11-20T05:00:00Z");
    const warn = vi.fn();
    const logger = pino({ level: "silent" });
    logger.warn = warn as never;
    const service = createActivationService(fixture.deps, {
      logger,
      now: () => clock,
      alertRetryDelaysMs: [5, 5],
    });
    const setClock = (iso: string) => {
      clock = new Date(iso);
    };
    return { fixture, dataflow, files, ops, subscription, service, setClock, warn };
  }

  it("sends started, succeeded and the skipped rate of an export, in words and figures, once each", async () => {
    const { fixture, dataflow, subscription, service } = await setup([
      "run.started",
      "run.succeeded",
      "run.failed",
      "run.skipped_rate",
    ]);
    const [run] = await service.triggerNow(sandbox, dataflow.id);
    await service.idle();
    const [finished] = await listRuns(fixture.store, sandbox, { limit: 1 });
    expect(finished?.status).toBe("succeeded");
    const sent = alerts();
    expect(sent.map((a) => a.event).sort()).toEqual(["run.skipped_rate", "run.started", "run.succeeded"]);
    for (const a of sent) {
      expect(a.run.id).toBe(run?.id);
      expect(a.dataflow.name).toBe("French customers to the agency");
      expect(a.segment).toEqual({ id: FRENCH, name: "French customers" });
    }
    const succeeded = sent.find((a) => a.event === "run.succeeded");
    expect(succeeded?.text).toBe(
      `Herald (prod): export succeeded: ${finished?.activated} profiles of ${finished?.received} activated in 1 file - dataflow 'French customers to the agency', segment 'French customers', run ${run?.id}`,
    );
    // The fixture's French profiles without a last name are excluded by the mandatory column.
    const skipped = sent.find((a) => a.event === "run.skipped_rate");
    expect(finished?.excluded.missingMandatory).toBeGreaterThan(0);
    expect(skipped?.run.skippedPercent).toBeCloseTo(
      (100 * ((finished?.received ?? 0) - (finished?.activated ?? 0))) / (finished?.received ?? 1),
      2,
    );
    expect(skipped?.text).toContain(
      `of the profiles received were not activated (alert above 1%): missingMandatory ${finished?.excluded.missingMandatory}`,
    );
    const deliveries = await listAlertDeliveries(fixture.store, sandbox, subscription.id);
    expect(deliveries.map((d) => [d.event, d.status]).sort()).toEqual([
      ["run.skipped_rate", "sent"],
      ["run.started", "sent"],
      ["run.succeeded", "sent"],
    ]);
  });

  it("sends a failed run's error, and records an alert the endpoint refused without failing the export", async () => {
    // 100 rows a file, at most 1 file: the French audience needs more, so the run fails before writing.
    const { fixture, dataflow, subscription, service, warn } = await setup(["run.failed", "run.succeeded"], {
      fileOptions: { compression: "none", maxRowsPerFile: 10, maxFiles: 1 },
    });
    await service.triggerNow(sandbox, dataflow.id);
    await service.idle();
    const [failed] = alerts();
    expect(failed?.event).toBe("run.failed");
    expect(failed?.run.status).toBe("failed");
    expect(failed?.text).toMatch(/^Herald \(prod\): export failed: .*over the limit of 1 files per segment/);

    recorder.respondWith({ status: 503 }, 3);
    await service.triggerNow(sandbox, dataflow.id);
    await service.idle();
    const deliveries = await listAlertDeliveries(fixture.store, sandbox, subscription.id);
    expect(deliveries).toHaveLength(2);
    const refused = deliveries.find((d) => d.status === "failed");
    expect(refused?.error).toContain("answered 503");
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ subscription: subscription.id, event: "run.failed" }),
      "alert not sent",
    );
  });

  it("sends run.delayed once for a run still going after the delay, not for one within it", async () => {
    const { fixture, dataflow, service, setClock } = await setup(["run.delayed"]);
    const long = await startRun(fixture.store, sandbox, {
      dataflowId: dataflow.id,
      segmentId: FRENCH,
      trigger: "schedule",
      scheduledFor: new Date("2026-11-20T02:00:00Z"),
      now: new Date("2026-11-20T02:00:00Z"),
    });
    // Another dataflow of the segment, its run started 31 minutes before the tick.
    const other = await createDataflow(fixture.deps, sandbox, {
      ...dataflowFor(dataflow.accountId, { details: { folderPath: "out" } }),
      name: "French customers to the printer",
    });
    const recent = await startRun(fixture.store, sandbox, {
      dataflowId: other.id,
      segmentId: FRENCH,
      trigger: "manual",
      scheduledFor: new Date("2026-11-20T04:00:00Z"),
      now: new Date("2026-11-20T04:00:00Z"),
    });
    // Both alive (recent heartbeats); one started 151 minutes before the tick, the other 31.
    setClock("2026-11-20T04:31:00Z");
    const alive = () =>
      fixture.store.query(
        sandbox,
        "UPDATE runs SET heartbeat_at = $1 WHERE sandbox = $sandbox AND id IN ($2, $3)",
        [new Date("2026-11-20T04:31:00Z"), long.id, recent.id],
      );
    await alive();
    // The segment is busy with the long run: the tick starts nothing, and alerts once.
    await service.tick();
    await service.idle();
    await alive();
    await service.tick();
    await service.idle();
    const sent = alerts();
    expect(sent.map((a) => [a.event, a.run.id])).toEqual([["run.delayed", long.id]]);
    expect(sent[0]?.text).toMatch(
      /^Herald \(prod\): export still running after 151 minutes \(alert after 150\)/,
    );
  });
});

describe("alert subscriptions through the API", () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
  });

  it("creates, shows with its alerts, and deletes a subscription, audited", async () => {
    const fixture = await activationFixture("duckdb");
    store = fixture.store;
    const { app } = await apiFor(fixture.store);
    try {
      const ops = (
        await app.inject({
          method: "POST",
          url: "/v1/accounts",
          payload: { destination: "http-api", name: "ops", connection: { url: `${recorder.url}/alerts` } },
        })
      ).json() as { id: string };
      const created = await app.inject({
        method: "POST",
        url: "/v1/alerts",
        payload: {
          name: "ops",
          accountId: ops.id,
          events: ["run.failed", "run.delayed"],
          delayedAfterMinutes: 60,
        },
      });
      expect(created.statusCode).toBe(201);
      const id = created.json().id as string;
      expect(created.json()).toMatchObject({
        events: ["run.failed", "run.delayed"],
        delayedAfterMinutes: 60,
        skippedRateAbovePercent: 1,
        dataflowId: null,
      });
      const shown = await app.inject(`/v1/alerts/${id}`);
      expect(shown.json()).toMatchObject({ id, deliveries: [] });
      expect((await app.inject("/v1/alerts")).json().items).toHaveLength(1);
      const unknown = await app.inject({
        method: "POST",
        url: "/v1/alerts",
        payload: { name: "x", accountId: ops.id, events: [] },
      });
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json().error.issues[0].field).toBe("events");
      expect((await app.inject({ method: "DELETE", url: `/v1/alerts/${id}` })).statusCode).toBe(204);
      expect((await app.inject(`/v1/alerts/${id}`)).statusCode).toBe(404);
      const audit = (await app.inject("/v1/audit?resource=alert")).json().items as { action: string }[];
      expect(audit.map((a) => a.action)).toEqual(["delete", "create"]);
    } finally {
      await app.close();
    }
  });
});

describe("alert subscriptions are checked when made", () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
  });

  it("refuses a file account, an unknown dataflow and an unknown event, naming the field", async () => {
    const fixture = await activationFixture("duckdb");
    store = fixture.store;
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-alerts-check-"));
    const files = await createAccount(fixture.deps, sandbox, {
      destinationId: "local",
      name: "pickup",
      connection: { root },
    });
    await expect(
      createAlertSubscription(fixture.deps, sandbox, {
        name: "x",
        accountId: files.id,
        events: ["run.failed"],
      }),
    ).rejects.toThrow(
      "accountId: account 'pickup' is a local account; alerts are sent to an HTTP API account",
    );
    const ops = await createAccount(fixture.deps, sandbox, {
      destinationId: "http-api",
      name: "ops",
      connection: { url: `${recorder.url}/alerts` },
    });
    await expect(
      createAlertSubscription(fixture.deps, sandbox, {
        name: "x",
        accountId: ops.id,
        events: ["run.failed"],
        dataflowId: "nope",
      }),
    ).rejects.toMatchObject({ code: "dataflow_not_found" });
    await expect(
      createAlertSubscription(fixture.deps, sandbox, {
        name: "x",
        accountId: ops.id,
        events: ["run.exploded"],
      }),
    ).rejects.toMatchObject({ issues: [expect.objectContaining({ field: "events.0" })] });
    fs.rmSync(root, { recursive: true, force: true });
  });
});
