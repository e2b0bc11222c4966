import { randomBytes } from "node:crypto";
import { localKeyProvider } from "../../src/crypto/index.ts";
import {
  type AccountDeps,
  createCatalog,
  type DestinationDefinition,
  destinationMigrations,
} from "../../src/destinations/index.ts";
import { createSandbox, DEFAULT_SANDBOX, migrate } from "../../src/store/index.ts";
import { freshStore } from "../support/stores.ts";

/** A DuckDB store with the accounts table, a local key and a catalog of the given destinations. */
export async function accountDeps(
  definitions: DestinationDefinition[],
): Promise<AccountDeps & { close(): Promise<void> }> {
  const store = await freshStore("duckdb");
  await migrate(store, store.engine);
  await migrate(store, store.engine, "destinations", destinationMigrations);
  await createSandbox(store, DEFAULT_SANDBOX);
  return {
    store,
    catalog: createCatalog(definitions),
    keys: localKeyProvider(randomBytes(32)),
    close: () => store.close(),
  };
}
