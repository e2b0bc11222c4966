import { installDefaultSchema, loadSchema, type SchemaSnapshot } from "../../src/schema/index.ts";
import { createSandbox, DEFAULT_SANDBOX, type Engine, migrate, type Store } from "../../src/store/index.ts";
import { freshStore } from "./stores.ts";

/** A fresh store of one engine with the `prod` sandbox and the default customer-profile schema. */
export async function storeWithDefaultSchema(
  engine: Engine,
): Promise<{ store: Store; schema: SchemaSnapshot }> {
  const store = await freshStore(engine);
  await migrate(store, engine);
  await createSandbox(store, DEFAULT_SANDBOX);
  await installDefaultSchema(store, DEFAULT_SANDBOX);
  return { store, schema: await loadSchema(store, DEFAULT_SANDBOX) };
}
