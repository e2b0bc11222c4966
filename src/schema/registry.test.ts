import { afterEach, describe, expect, it } from "vitest";
import { storeWithDefaultSchema } from "../../test/support/herald-store.ts";
import type { Executor, Store } from "../store/index.ts";
import { addField, recentSchema } from "./index.ts";

describe("recentSchema", () => {
  let store: Store;
  afterEach(async () => store?.close());

  /** The store, counting the statements run through it. */
  const counted = (inner: Store) => {
    const count = { queries: 0 };
    const db: Executor = {
      ...inner,
      query: (...args: Parameters<Executor["query"]>) => {
        count.queries++;
        return inner.query(...args);
      },
    };
    return { db, count };
  };

  it("loads once for requests arriving together and reuses the copy; a field added is seen at once", async () => {
    ({ store } = await storeWithDefaultSchema("duckdb"));
    const { db, count } = counted(store);
    const together = await Promise.all([1, 2, 3, 4].map(() => recentSchema(db, "prod")));
    expect(count.queries).toBe(1);
    expect(new Set(together).size).toBe(1);
    await recentSchema(db, "prod");
    expect(count.queries).toBe(1);

    await addField(db as Store, "prod", { entity: "profile", path: "vipSince", type: "date" });
    const after = await recentSchema(db, "prod");
    expect(after.profileFields.has("vipSince")).toBe(true);
  });

  it("does not keep a failed load: the next request loads again", async () => {
    ({ store } = await storeWithDefaultSchema("duckdb"));
    let fail = true;
    const db: Executor = {
      ...store,
      query: (...args: Parameters<Executor["query"]>) =>
        fail ? Promise.reject(new Error("connection reset")) : store.query(...args),
    };
    await expect(recentSchema(db, "prod")).rejects.toThrow("connection reset");
    fail = false;
    expect((await recentSchema(db, "prod")).profileFields.size).toBeGreaterThan(0);
  });
});
