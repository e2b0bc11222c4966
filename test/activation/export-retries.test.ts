import os from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { EXPORT_ATTEMPTS, EXPORT_BACKOFF_MS, exportRetryDelayMs } from "../../src/activation/execute-run.ts";
import { createDataflow, runSegmentExport } from "../../src/activation/index.ts";
import {
  createAccount,
  createCatalog,
  type DestinationDefinition,
  type FileConnector,
} from "../../src/destinations/index.ts";
import { localDestination } from "../../src/destinations/local/index.ts";
import { HeraldError } from "../../src/errors/index.ts";
import type { Store } from "../../src/store/index.ts";
import { activationFixture, dataflowFor, FRENCH, sandbox } from "../support/activation.ts";

describe("the export's retry window", () => {
  it("outlasts a destination's restart: 6 attempts, waits of 5 s doubling, jittered between half and all", () => {
    const waits = (random: () => number) =>
      Array.from({ length: EXPORT_ATTEMPTS - 1 }, (_, i) =>
        exportRetryDelayMs(EXPORT_BACKOFF_MS, i + 1, random),
      );
    expect(waits(() => 1)).toEqual([5000, 10_000, 20_000, 40_000, 80_000]);
    expect(waits(() => 0)).toEqual([2500, 5000, 10_000, 20_000, 40_000]);
    // What docs/activation.md promises: down for 77 s at least, 155 s at most, before the run fails.
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    expect(sum(waits(() => 0))).toBe(77_500);
    expect(sum(waits(() => 1))).toBe(155_000);
  });
});

describe("a cancel while the export waits to retry", () => {
  let store: Store | undefined;
  afterEach(() => store?.close());

  it("ends the wait at once: the run fails with the cancel's cause and no further attempt", async () => {
    const base = await activationFixture("duckdb", 20);
    store = base.store;
    const controller = new AbortController();
    let opens = 0;
    const connector = localDestination.connector as FileConnector<unknown, unknown>;
    const offline: DestinationDefinition = {
      ...(localDestination as DestinationDefinition),
      connector: {
        ...connector,
        open: (): Promise<never> => {
          opens++;
          // Cancelled a moment after the first attempt failed, while the run waits a minute.
          setTimeout(
            () => controller.abort(new Error("cancelled: the herald command was interrupted (Ctrl-C)")),
            100,
          );
          return Promise.reject(
            new HeraldError("unavailable", "folder_unavailable", "The pickup share is offline"),
          );
        },
      },
    };
    // A minute's wait: the run would still be waiting when the test times out.
    const deps = { ...base.deps, catalog: createCatalog([offline]), backoffMs: 120_000 };
    const account = await createAccount(deps, sandbox, {
      destinationId: "local",
      name: "pickup",
      connection: { root: os.tmpdir() },
    });
    const dataflow = await createDataflow(deps, sandbox, dataflowFor(account.id));
    const started = Date.now();
    const finished = await runSegmentExport(deps, sandbox, {
      dataflowId: dataflow.id,
      segmentId: FRENCH,
      trigger: "manual",
      scheduledFor: new Date("2026-11-20T05:00:00Z"),
      signal: controller.signal,
    });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(opens).toBe(1);
    expect(finished.status).toBe("failed");
    expect(finished.errors).toEqual([
      "attempt 1: The pickup share is offline",
      "attempt 2: cancelled: the herald command was interrupted (Ctrl-C)",
    ]);
  });
});
