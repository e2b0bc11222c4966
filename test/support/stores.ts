import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { inject } from "vitest";
import { type Engine, openDuckDBStore, openPostgresStore, type Store } from "../../src/store/index.ts";

export const engines: Engine[] = ["duckdb", "postgres"];

let counter = 0;

/** A fresh, empty store of the given engine: a DuckDB file in a temp dir, or a new PostgreSQL database. */
export async function freshStore(engine: Engine): Promise<Store> {
  if (engine === "duckdb") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-duck-"));
    const store = await openDuckDBStore({
      file: path.join(dir, "test.duckdb"),
      memoryLimit: "1GB",
      threads: 2,
    });
    return {
      ...store,
      close: async () => {
        await store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  return openPostgresStore(await freshPostgresDatabase());
}

/** A new, empty database on the suite's PostgreSQL cluster: its connection URL. */
export async function freshPostgresDatabase(): Promise<string> {
  const adminUrl = inject("postgresUrl");
  const name = `t_${process.pid}_${Date.now()}_${counter++}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return adminUrl.replace(/\/[^/]*$/, `/${name}`);
}
