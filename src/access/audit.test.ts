import { afterEach, describe, expect, it } from "vitest";
import { storeWithDefaultSchema } from "../../test/support/herald-store.ts";
import { engines } from "../../test/support/stores.ts";
import type { Store } from "../store/index.ts";
import { listAudit, recordAudit } from "./audit.ts";

describe.each(engines)("audit log on %s", (engine) => {
  let store: Store;
  afterEach(async () => {
    await store?.close();
  });

  it("writes entries recorded in the same turn together, each resolving once written", async () => {
    ({ store } = await storeWithDefaultSchema(engine));
    const entries = await Promise.all(
      ["a", "b", "c"].map((id, i) =>
        recordAudit(store, {
          sandbox: "prod",
          actor: "admin",
          action: "ingest",
          resource: "events",
          resourceId: id,
          details: { stored: i },
          occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
        }),
      ),
    );
    expect(entries.map((e) => e.resourceId)).toEqual(["a", "b", "c"]);
    const listed = await listAudit(store, "prod", { resource: "events" });
    expect(listed.map((e) => [e.resourceId, e.details])).toEqual([
      ["c", { stored: 2 }],
      ["b", { stored: 1 }],
      ["a", { stored: 0 }],
    ]);
  });
});
