import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import {
  createActivationService,
  createDataflow,
  listRuns,
  runSegmentExport,
} from "../../src/activation/index.ts";
import { createAccount } from "../../src/destinations/index.ts";
import { createPolicy, labelField, updatePolicy } from "../../src/governance/index.ts";
import type { Store } from "../../src/store/index.ts";
import { createStreamingService } from "../../src/streaming/index.ts";
import { eventually, streamingStores } from "../streaming/harness.ts";
import { activationFixture, FRENCH, sandbox } from "../support/activation.ts";
import { EXPORT_WHEN_C2, exportingTier, goldStream } from "../support/governance.ts";
import { engines } from "../support/stores.ts";

/** Every file under a folder, at any depth. */
const filesUnder = (dir: string): string[] =>
  fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);

// A policy enabled (or a label added) after activation by a path that checks no active dataflow
// (another tool writing the store, here governance called without the active dataflows): what
// the runs and the dispatcher do about it.
describe.each(engines)("enforcement after activation on %s", (engine) => {
  let store: Store | undefined;
  let root = "";
  afterEach(async () => {
    await store?.close();
    store = undefined;
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  /** The fixture's third-party dataflow, enabled, to a local folder; `violate` makes it violate. */
  async function governedDataflow() {
    const fixture = await activationFixture(engine, 20);
    store = fixture.store;
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-governed-run-"));
    const account = await createAccount(fixture.deps, sandbox, {
      destinationId: "local",
      name: "Agency drop",
      connection: { root },
    });
    const dataflow = await createDataflow(fixture.deps, sandbox, exportingTier(account.id));
    expect(dataflow.status).toBe("enabled");
    const violate = async () => {
      await labelField(fixture.store, sandbox, { entity: "profile", path: "loyalty.tier" }, ["C2"]);
      await createPolicy(fixture.store, sandbox, EXPORT_WHEN_C2);
    };
    return { fixture, store: fixture.store, dataflow, violate };
  }

  it("fails the next batch run at once with the violation, writing no file", async () => {
    const { fixture, store, dataflow, violate } = await governedDataflow();
    await violate();

    const exportNow = () =>
      runSegmentExport(fixture.deps, sandbox, {
        dataflowId: dataflow.id,
        segmentId: FRENCH,
        trigger: "manual",
        scheduledFor: new Date(),
      });
    const run = await exportNow();
    expect(run.status).toBe("failed");
    expect(run.activated).toBe(0);
    expect(run.files).toEqual([]);
    expect(run.errors).toHaveLength(1);
    expect(run.errors[0]).toMatch(
      /^attempt 1: dataflow 'French customers to the agency' violates policy 'No third-party export of C2 data'/,
    );
    expect(run.errors[0]).toContain("loyalty.tier");
    expect(filesUnder(root)).toEqual([]);

    // Resolved (the policy disabled), the next run exports.
    await updatePolicy(store, sandbox, EXPORT_WHEN_C2.name, { status: "disabled" });
    const next = await exportNow();
    expect(next.status).toBe("succeeded");
    expect(filesUnder(root).length).toBeGreaterThan(0);
  });

  it("refuses export now and a rerun with the violation (409 policy_violation), starting no run", async () => {
    const { fixture, store, dataflow, violate } = await governedDataflow();
    const service = createActivationService(fixture.deps, { logger: pino({ level: "silent" }) });
    const [earlier] = await service.triggerNow(sandbox, dataflow.id);
    await service.idle();
    await violate();

    await expect(service.triggerNow(sandbox, dataflow.id)).rejects.toMatchObject({
      code: "policy_violation",
      kind: "conflict",
      message: expect.stringContaining("No third-party export of C2 data"),
    });
    await expect(service.rerun(sandbox, earlier?.id ?? "")).rejects.toMatchObject({
      code: "policy_violation",
    });
    expect((await listRuns(store, sandbox)).map((r) => r.id)).toEqual([earlier?.id]);
  });
});

describe.each(engines)("a streaming dataflow violating a policy on %s", (engine) => {
  const stores = streamingStores(engine);
  let opened: Store | undefined;
  afterEach(async () => {
    await opened?.close();
    opened = undefined;
  });

  it("holds its messages, sends none, and sends them in order once the violation is resolved", async () => {
    const target = `governed-${engine}`;
    const { store, schema, deps } = await goldStream(engine, stores.url(target), "Partner stream", [
      "Export to third party",
    ]);
    opened = store;
    // The segment's rule reads loyalty.tier: labelled C2, the stream now violates the policy.
    await labelField(store, "prod", { entity: "profile", path: "loyalty.tier" }, ["C2"]);
    await createPolicy(store, "prod", EXPORT_WHEN_C2);

    const logged: { msg: string; violation?: string }[] = [];
    const logger = pino(
      { level: "info" },
      new Writable({
        write(line: Buffer, _encoding, done) {
          logged.push(JSON.parse(line.toString()));
          done();
        },
      }),
    );
    const logLines = (msg: string) => logged.filter((l) => l.msg === msg);
    const streaming = createStreamingService(deps, { logger, lingerMs: 0 });
    for (const email of ["ann@example.com", "bob@example.com"]) {
      await streaming.ingest.ingestProfiles("prod", schema, [
        { personalEmail: { address: email }, loyalty: { tier: "gold" } },
      ]);
      await streaming.dispatcher.dispatchNow();
    }
    await streaming.dispatcher.dispatchNow();
    expect(stores.received(target)).toEqual([]);
    const pending = await store.queryGlobal<{ n: number }>(
      "SELECT count(*) AS n FROM streaming_outbox WHERE state = 'pending'",
    );
    expect(Number(pending[0]?.n)).toBe(2);
    // Said once, however many rounds hold it.
    expect(logLines("streaming held: the dataflow violates a policy")).toEqual([
      expect.objectContaining({ violation: expect.stringContaining("No third-party export of C2 data") }),
    ]);

    await updatePolicy(store, "prod", EXPORT_WHEN_C2.name, { status: "disabled" });
    const received = await eventually(
      async () => {
        await streaming.dispatcher.dispatchNow();
        return stores.received(target);
      },
      (r) => r.length >= 2,
    );
    expect(received.map((m) => m.profileId)).toEqual(["ann@example.com", "bob@example.com"]);
    expect(logLines("streaming resumed: the policy violation is resolved")).toHaveLength(1);
    await streaming.stop();
  });
});
