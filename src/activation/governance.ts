import { accountNames, type Catalog } from "../destinations/index.ts";
import {
  evaluateDataflowPolicies,
  type GovernedDataflow,
  policyViolationError,
  type Violation,
} from "../governance/index.ts";
import type { Executor } from "../store/index.ts";
import type { Dataflow } from "./dataflows.ts";

/** What activation gives governance to name a dataflow's destination in a violation's lineage. */
export interface GovernanceDeps {
  store: Executor;
  catalog?: Catalog;
}

/** How lineage names where a dataflow sends: its account and the destination (`CRM drop (SFTP)`). */
export function destinationName(accountName: string | undefined, destination: string | undefined): string {
  return [accountName, destination && `(${destination})`].filter(Boolean).join(" ");
}

function catalogName(catalog: Catalog | undefined, destinationId: string): string | undefined {
  try {
    return catalog?.get(destinationId).name;
  } catch {
    return undefined; // a destination no longer in the catalog: the account's name says enough
  }
}

/** Saved dataflows as governance reads them, each destination named for the lineage. */
export async function governedDataflows(
  deps: GovernanceDeps,
  sandbox: string,
  dataflows: readonly Dataflow[],
): Promise<GovernedDataflow[]> {
  const names = await accountNames(deps.store, sandbox);
  return dataflows.map((d) => ({
    ...d,
    destinationName: destinationName(names.get(d.accountId), catalogName(deps.catalog, d.destinationId)),
  }));
}

/** The saved dataflow's violations of the sandbox's enabled policies now. */
export async function dataflowViolations(
  deps: GovernanceDeps,
  sandbox: string,
  dataflow: Dataflow,
): Promise<Violation[]> {
  const [governed] = await governedDataflows(deps, sandbox, [dataflow]);
  return evaluateDataflowPolicies(deps.store, sandbox, governed as GovernedDataflow);
}

/** Refuses to send for a saved dataflow that violates an enabled policy (409 policy_violation). */
export async function refuseViolatingDataflow(deps: GovernanceDeps, sandbox: string, dataflow: Dataflow) {
  const violations = await dataflowViolations(deps, sandbox, dataflow);
  if (violations.length) throw policyViolationError(violations);
}
