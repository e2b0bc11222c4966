import { describe, expect, it } from "vitest";
import { createDataflow, updateDataflow } from "../../src/activation/index.ts";
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
});
