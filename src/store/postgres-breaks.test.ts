import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { freshPostgresDatabase } from "../../test/support/stores.ts";
import { openPostgresStore, type Store } from "./index.ts";
import { asUnavailable, isUnreachable } from "./unreachable.ts";

/** Ends every other session of the database, as a server restart or a DBA's pg_terminate_backend does. */
async function terminateSessions(url: string): Promise<number> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: string }>(
      `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    return Number(rows[0]?.n);
  } finally {
    await admin.end();
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

// A broken connection must cost a request at most, never the process: an 'error' event nobody
// listens to ends it, and with it every stream and export of the process.
describe("a PostgreSQL store whose connections break", () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it("lives through its idle connections being terminated, and the next query reconnects", async () => {
    const url = await freshPostgresDatabase();
    store = await openPostgresStore(url);
    const open = store;
    await Promise.all([1, 2, 3].map(() => open.queryGlobal("SELECT pg_sleep(0.05)")));
    expect(await terminateSessions(url)).toBeGreaterThan(0);
    await settle();
    expect(await open.queryGlobal("SELECT 1 AS ok")).toEqual([{ ok: 1 }]);
  });

  it("fails a transaction whose connection ends between statements as unavailable; the next one goes through", async () => {
    const url = await freshPostgresDatabase();
    store = await openPostgresStore(url);
    await expect(
      store.transaction(async (tx) => {
        await tx.queryGlobal("SELECT 1");
        await terminateSessions(url);
        await settle();
        await tx.queryGlobal("SELECT 2");
      }),
    ).rejects.toMatchObject({ kind: "unavailable", code: "store_unavailable" });
    expect(await store.transaction((tx) => tx.queryGlobal("SELECT 3 AS n"))).toEqual([{ n: 3 }]);
  });

  it("tells a database out of reach from other errors, and never names the connection URL", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
    const shutdown = Object.assign(new Error("terminating connection due to administrator command"), {
      code: "57P01",
    });
    for (const error of [refused, shutdown, new Error("Connection terminated unexpectedly")]) {
      expect(isUnreachable(error)).toBe(true);
      expect(asUnavailable(error)).toMatchObject({ kind: "unavailable", code: "store_unavailable" });
    }
    const duplicate = Object.assign(new Error("duplicate key value"), { code: "23505" });
    expect(isUnreachable(duplicate)).toBe(false);
    expect(asUnavailable(duplicate)).toBe(duplicate);
    expect((asUnavailable(refused) as Error).message).toBe(
      "The database cannot be reached now (ECONNREFUSED); try again shortly",
    );
  });
});
