import { randomBytes } from "node:crypto";
import { migrateParts } from "../../src/api/index.ts";
import { localKeyProvider } from "../../src/crypto/index.ts";
import { createCatalog, destinationDefinitions } from "../../src/destinations/index.ts";
import { createSegment } from "../../src/segments/index.ts";
import type { Engine } from "../../src/store/index.ts";
import { streamingDataflowTo } from "../streaming/harness.ts";
import { dataflowFor } from "./activation.ts";
import { storeWithDefaultSchema } from "./herald-store.ts";

/** An enabled policy of the sandbox's own: no export to third parties of data labelled C2. */
export const EXPORT_WHEN_C2 = {
  name: "No third-party export of C2 data",
  marketingAction: "Export to third party",
  expression: { operator: "OR", operands: ["C2"] },
  status: "enabled",
};

/** The fixture's dataflow for a third party, exporting loyalty.tier (column `tier`) too. */
export function exportingTier(accountId: string, overrides: Record<string, unknown> = {}) {
  const base = dataflowFor(accountId);
  return {
    ...base,
    marketingActions: ["Export to third party"],
    mapping: {
      columns: [
        ...base.mapping.columns,
        { source: { kind: "attribute", path: "loyalty.tier" }, target: "tier" },
      ],
    },
    ...overrides,
  };
}

/**
 * A store with the "gold" segment (`loyalty.tier = "gold"`) streamed by an HTTP dataflow for
 * `marketingActions`, sending the email identity to `url`: what the governed streaming tests share.
 */
export async function goldStream(engine: Engine, url: string, name: string, marketingActions: string[]) {
  const { store, schema } = await storeWithDefaultSchema(engine);
  await migrateParts(store);
  await createSegment(store, "prod", { id: "gold", name: "Gold", definition: 'loyalty.tier = "gold"' });
  const deps = {
    store,
    catalog: createCatalog(destinationDefinitions),
    keys: localKeyProvider(randomBytes(32)),
  };
  await streamingDataflowTo(deps, url, {
    name,
    segmentIds: ["gold"],
    mapping: { columns: [{ source: { kind: "identity", namespace: "email" } }] },
    marketingActions,
  });
  return { store, schema, deps };
}
