import { profileMigrations } from "../../src/profiles/index.ts";
import { installDefaultSchema, loadSchema, type SchemaSnapshot } from "../../src/schema/index.ts";
import { createSandbox, DEFAULT_SANDBOX, type Engine, migrate, type Store } from "../../src/store/index.ts";
import { freshStore } from "./stores.ts";

/**
 * A fresh store of one engine with the `prod` sandbox, the default customer-profile schema and the
 * profiles part's tables (ingestion writes them).
 */
export async function storeWithDefaultSchema(
  engine: Engine,
): Promise<{ store: Store; schema: SchemaSnapshot }> {
  const store = await freshStore(engine);
  await migrate(store, engine);
  await migrate(store, engine, "profiles", profileMigrations);
  await createSandbox(store, DEFAULT_SANDBOX);
  await installDefaultSchema(store, DEFAULT_SANDBOX);
  return { store, schema: await loadSchema(store, DEFAULT_SANDBOX) };
}
