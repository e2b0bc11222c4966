import { afterEach, describe, expect, it } from "vitest";
import { storeWithDefaultSchema } from "../../test/support/herald-store.ts";
import { engines } from "../../test/support/stores.ts";
import { migrate, type Store } from "../store/index.ts";
import { administrators, keepAnAdministrator } from "./administrators.ts";
import { accessMigrations } from "./migrations.ts";
import { createUser, updateUser } from "./users.ts";

describe.each(engines)("the last administrator on %s", (engine) => {
  let store: Store;
  afterEach(async () => {
    await store?.close();
  });

  it("survives two changes at once, each removing one administrator: the second waits and is refused", async () => {
    ({ store } = await storeWithDefaultSchema(engine));
    await migrate(store, engine, "access", accessMigrations);
    const a = await createUser(store, { name: "a", roles: ["Administrator"] });
    const b = await createUser(store, { name: "b", roles: ["Administrator"] });
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let checked = () => {};
    const firstChecked = new Promise<void>((resolve) => {
      checked = resolve;
    });
    // The first disables `a`, passes the check (b is left), then holds its transaction open.
    const first = store.transaction(async (tx) => {
      await keepAnAdministrator(tx, engine, () =>
        tx.queryGlobal("UPDATE users SET disabled = TRUE WHERE id = $1", [a.id]),
      );
      checked();
      await gate;
    });
    await firstChecked;
    // Without taking turns, the second would see `a` still enabled, pass, and both would commit.
    const second = updateUser(store, b.id, { disabled: true });
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    const [firstResult, secondResult] = await Promise.allSettled([first, second]);
    expect(firstResult.status).toBe("fulfilled");
    expect(secondResult).toMatchObject({ status: "rejected", reason: { code: "last_administrator" } });
    expect(await administrators(store)).toEqual(["b"]);
  });
});
