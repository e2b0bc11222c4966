import pino from "pino";
import { describe, expect, it } from "vitest";
import { createStreamingService } from "../../src/streaming/index.ts";
import { apiFor } from "../support/api.ts";
import { engines } from "../support/stores.ts";
import { streamingStores } from "./harness.ts";

// POST /v1/profiles/stream numbers rows as a JSON Lines file does: 1-based lines, blank ones counted.
describe.each(engines)("a newline-delimited stream's rows (%s)", (engine) => {
  const stores = streamingStores(engine);

  it("are line numbers: blank lines counted, a leading byte-order mark dropped, bytes not UTF-8 rejected", async () => {
    const created = await stores.open(`stream-rows-${engine}`, { gold: 'loyalty.tier = "gold"' });
    const streaming = createStreamingService(created.deps, { logger: pino({ level: "silent" }) });
    const { app } = await apiFor(created.store, { streaming } as Parameters<typeof apiFor>[1]);
    const profile = (email: string, points: unknown) =>
      JSON.stringify({ personalEmail: { address: email }, loyalty: { points } });
    const payload = Buffer.concat([
      Buffer.from(
        `\ufeff${profile("a@example.com", 1)}\n\n${profile("b@example.com", "many")}\n   \n{oops\n`,
        "utf8",
      ),
      Buffer.from([0x7b, 0xe9, 0x7d, 0x0a]),
      Buffer.from(`${profile("c@example.com", 3)}\n`, "utf8"),
    ]);
    const response = await app.inject({
      method: "POST",
      url: "/v1/profiles/stream",
      headers: { "content-type": "application/x-ndjson" },
      payload,
    });
    expect(response.statusCode, response.body).toBe(207);
    const report = response.json() as { issues: { row: number; field?: string; message: string }[] };
    expect(report).toMatchObject({ received: 5, stored: 2, rejected: 3 });
    expect(report.issues).toEqual([
      { row: 3, field: "loyalty.points", message: expect.stringMatching(/^loyalty\.points/) },
      { row: 5, message: expect.stringMatching(/^line is not valid JSON/) },
      { row: 6, message: "not UTF-8" },
    ]);
    const rows = await created.store.query<{ _id: string }>(
      "prod",
      "SELECT _id FROM {profiles} ORDER BY _id",
    );
    expect(rows.map((r) => r._id)).toEqual(["a@example.com", "c@example.com"]);
    await app.close();
  });
});
