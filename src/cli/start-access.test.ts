import { afterEach, describe, expect, it } from "vitest";
import { storeWithDefaultSchema } from "../../test/support/herald-store.ts";
import { accessMigrations, createToken, createUser } from "../access/index.ts";
import { loadConfig } from "../config/index.ts";
import { migrate, type Store } from "../store/index.ts";
import { accessWarning } from "./start.ts";

describe("what herald start says about access", () => {
  let store: Store;
  afterEach(async () => {
    await store?.close();
  });

  it("warns of no login beyond loopback, and of no usable token with HERALD_AUTH=token, telling how to make one", async () => {
    ({ store } = await storeWithDefaultSchema("duckdb"));
    await migrate(store, "duckdb", "access", accessMigrations);
    const on = (env: Record<string, string>) => accessWarning({ config: loadConfig({}, env), store });
    expect(await on({})).toBeUndefined();
    expect(await on({ HERALD_HOST: "0.0.0.0", HERALD_AUTH: "none" })).toMatch(
      /acts as the local administrator/,
    );
    const noToken = await on({ HERALD_HOST: "0.0.0.0" });
    expect(noToken).toContain("herald users create admin --role Administrator && herald tokens create admin");
    const admin = await createUser(store, { name: "admin", roles: ["Administrator"] });
    await createToken(store, admin.id);
    expect(await on({ HERALD_HOST: "0.0.0.0" })).toBeUndefined();
  });
});
