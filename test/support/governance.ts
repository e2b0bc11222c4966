import { dataflowFor } from "./activation.ts";

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
