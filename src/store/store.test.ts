import { afterEach, describe, expect, it } from "vitest";
import { engines, freshStore } from "../../test/support/stores.ts";
import { createSandbox, DEFAULT_SANDBOX, listSandboxes, migrate, type Store } from "./index.ts";

describe.each(engines)("store on %s", (engine) => {
  let store: Store;
  afterEach(async () => store?.close());

  it("applies migrations once and creates sandboxes with their own tables", async () => {
    store = await freshStore(engine);
    expect(await migrate(store, engine)).toEqual([1]);
    expect(await migrate(store, engine)).toEqual([]);
    await createSandbox(store, DEFAULT_SANDBOX);
    await createSandbox(store, "dev");
    expect((await listSandboxes(store)).map((s) => s.name)).toEqual(["dev", "prod"]);
    await expect(createSandbox(store, "dev")).rejects.toThrow(/already exists/);
    await expect(createSandbox(store, "Bad Name")).rejects.toThrow(/invalid/);

    const now = new Date("2026-11-02T10:00:00Z");
    await store.query("prod", "INSERT INTO {profiles} (_id, _created_at, _updated_at) VALUES ($1, $2, $2)", [
      "a",
      now,
    ]);
    expect(await store.query("dev", "SELECT _id FROM {profiles}")).toEqual([]);
    const rows = await store.query<{ _id: string; _updated_at: Date; n: number }>(
      "prod",
      "SELECT _id, _updated_at, count(*) OVER () AS n FROM {profiles}",
    );
    expect(rows).toEqual([{ _id: "a", _updated_at: now, n: 1 }]);
  });

  it("refuses a statement that names no sandbox", async () => {
    store = await freshStore(engine);
    await expect(store.query("prod", "SELECT 1")).rejects.toThrow(/not scoped to a sandbox/);
  });

  it("binds $sandbox as a parameter and rolls back a failed transaction", async () => {
    store = await freshStore(engine);
    await migrate(store, engine);
    await expect(
      store.transaction(async (tx) => {
        await tx.queryGlobal("INSERT INTO sandboxes (name, title, created_at) VALUES ('x', 'x', $1)", [
          new Date(),
        ]);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await store.query("x", "SELECT name FROM sandboxes WHERE name = $sandbox")).toEqual([]);
  });

  it("bulk-inserts typed columns from text arrays", async () => {
    store = await freshStore(engine);
    await migrate(store, engine);
    await createSandbox(store, "prod");
    await store.query("prod", "CREATE TABLE {t} (s TEXT, i BIGINT, d DATE, b BOOLEAN, l TEXT[])");
    const select = store.dialect.unnestColumns(
      [
        { name: "s", kind: "string" },
        { name: "i", kind: "integer" },
        { name: "d", kind: "date" },
        { name: "b", kind: "boolean" },
        { name: "l", kind: "string[]" },
      ],
      1,
    );
    await store.query("prod", `INSERT INTO {t} (s, i, d, b, l) ${select}`, [
      ["it's", null],
      ["42", "7"],
      ["2024-02-29", null],
      ["true", "false"],
      [store.dialect.arrayText(['a"b', "c,d", "e'f"]), null],
    ]);
    expect(await store.query("prod", "SELECT * FROM {t} ORDER BY i")).toEqual([
      { s: null, i: 7, d: null, b: false, l: null },
      { s: "it's", i: 42, d: "2024-02-29", b: true, l: ['a"b', "c,d", "e'f"] },
    ]);
  });
});
