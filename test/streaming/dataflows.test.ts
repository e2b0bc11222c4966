import { pino } from "pino";
import { describe, expect, it } from "vitest";
import {
  createActivationService,
  createDataflow,
  listRuns,
  updateDataflow,
} from "../../src/activation/index.ts";
import { createSegment, segmentDirectory, updateSegment } from "../../src/segments/index.ts";
import { createPlanCache } from "../../src/streaming/streaming-plan.ts";
import { streamingStores } from "./harness.ts";

// A streaming destination takes messages as memberships change, never files on a clock: a dataflow
// that asks it for files is refused when saved, naming the segment's schedule.
describe("a streaming destination's dataflows", () => {
  const stores = streamingStores("duckdb");

  it("refuses a clock schedule for a streaming destination, on create and on edit", async () => {
    const { deps, dataflow } = await stores.open("dataflows", { gold: 'loyalty.tier = "gold"' });
    const daily = { frequency: "daily", time: "06:00", timezone: "UTC" } as const;
    const input = {
      name: "Files to a stream",
      accountId: dataflow.accountId,
      segments: [{ segmentId: "gold", schedule: daily }],
      mapping: { columns: [{ source: { kind: "identity", namespace: "email" } }] },
    } as const;
    const expected = {
      issues: [
        {
          field: "segments.0.schedule.frequency",
          message: expect.stringMatching(/take the schedule "streaming"/),
        },
      ],
    };
    await expect(createDataflow(deps, "prod", input)).rejects.toMatchObject(expected);
    await expect(
      updateDataflow(deps, "prod", dataflow.id, { ...input, name: dataflow.name }),
    ).rejects.toMatchObject(expected);
  });

  it("refuses export now of a streaming dataflow: its changes go out as they happen", async () => {
    const { deps, store, dataflow } = await stores.open("export-now", { gold: 'loyalty.tier = "gold"' });
    const service = createActivationService(
      { ...deps, segments: segmentDirectory(store) },
      { logger: pino({ level: "silent" }) },
    );
    await expect(service.triggerNow("prod", dataflow.id)).rejects.toMatchObject({
      kind: "conflict",
      code: "dataflow_streaming",
    });
    expect(await listRuns(store, "prod")).toEqual([]);
  });

  it("refuses a batch-only segment on the streaming schedule, and an unknown segment, naming the field", async () => {
    const { deps, store, dataflow } = await stores.open("batch-only", { gold: 'loyalty.tier = "gold"' });
    await createSegment(store, "prod", {
      id: "big_spenders",
      name: "big_spenders",
      definition: "count(commerce.purchases) > 3",
    });
    const input = (segmentId: string) => ({
      name: "Stream",
      accountId: dataflow.accountId,
      segments: [{ segmentId, schedule: { frequency: "streaming" } }],
      mapping: { columns: [{ source: { kind: "identity", namespace: "email" } }] },
    });
    await expect(createDataflow(deps, "prod", input("big_spenders"))).rejects.toMatchObject({
      issues: [
        {
          field: "segments.0.segmentId",
          message: expect.stringMatching(
            /segment 'big_spenders' cannot be evaluated in real time \(count\(\.\.\.\) on commerce\.purchases has no time window/,
          ),
        },
      ],
    });
    await expect(updateDataflow(deps, "prod", dataflow.id, input("golden"))).rejects.toMatchObject({
      issues: [
        {
          field: "segments.0.segmentId",
          message: "segments.0.segmentId: no segment with id 'golden' in this sandbox",
        },
      ],
    });
  });

  it("logs the streamed segments the real-time path leaves out once a segment turns batch-only", async () => {
    const { store, schema } = await stores.open("left-out", { gold: 'loyalty.tier = "gold"' });
    await updateSegment(store, "prod", "gold", { definition: "count(commerce.purchases) > 3" });
    const warnings: unknown[] = [];
    const plans = createPlanCache({ warn: (fields: unknown) => warnings.push(fields) } as never);
    const plan = await plans.planFor(store, "prod", schema);
    expect(plan.segments).toEqual([]);
    expect(plan.leftOut).toEqual([
      {
        id: "gold",
        reason: expect.stringMatching(/^it is batch-only \(count\(\.\.\.\) on commerce\.purchases/),
      },
    ]);
    expect(warnings).toEqual([{ sandbox: "prod", leftOut: plan.leftOut }]);
    await plans.planFor(store, "prod", schema);
    expect(warnings).toHaveLength(1);
  });
});
