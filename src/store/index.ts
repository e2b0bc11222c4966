import path from "node:path";
import type { Config } from "../config/index.ts";
import { openDuckDBStore } from "./duckdb.ts";
import { migrate } from "./migrations.ts";
import { openPostgresStore } from "./postgres.ts";
import { createSandbox, DEFAULT_SANDBOX, listSandboxes } from "./sandboxes.ts";
import type { Store } from "./types.ts";

export { createDialect, HASH_TRIM_PATTERN, isValidSandboxName, sandboxSchema } from "./dialect.ts";
export { openDuckDBStore, readRows } from "./duckdb.ts";
export type { ExportFormat } from "./export-format.ts";
export { type Migration, migrate, storeMigrations } from "./migrations.ts";
export { openPostgresStore } from "./postgres.ts";
export { createSandbox, DEFAULT_SANDBOX, listSandboxes, requireSandbox, type Sandbox } from "./sandboxes.ts";
export type {
  ColumnKind,
  Dialect,
  Engine,
  Executor,
  ExportPlan,
  ExportStatement,
  QueryOptions,
  Row,
  Statement,
  Store,
} from "./types.ts";

/** Opens the configured engine, applies migrations, and makes sure the default sandbox exists. */
export async function openStore(
  config: Pick<Config, "dataDir" | "databaseUrl" | "memoryLimit" | "threads">,
): Promise<{ store: Store; createdDefaultSandbox: boolean }> {
  const store = config.databaseUrl
    ? await openPostgresStore(config.databaseUrl)
    : await openDuckDBStore({
        file: path.join(config.dataDir, "herald.duckdb"),
        memoryLimit: config.memoryLimit,
        threads: config.threads,
      });
  await store.transaction((tx) => migrate(tx, store.engine));
  const hasDefault = (await listSandboxes(store)).some((s) => s.name === DEFAULT_SANDBOX);
  if (!hasDefault) await createSandbox(store, DEFAULT_SANDBOX, "Production");
  return { store, createdDefaultSandbox: !hasDefault };
}
