import { HeraldError } from "../errors/index.ts";
import type { Executor } from "../store/index.ts";
import {
  type ActiveDataflows,
  findViolations,
  type GovernanceFacts,
  loadGovernanceFacts,
  type Violation,
} from "./enforcement.ts";

const violationKey = (dataflow: string, v: Violation) => `${dataflow}|${v.policy.id}|${v.marketingAction}`;

/**
 * Refuses an edit (a policy enabled or changed, a label added to a field, a segment's rule
 * changed) that would make an active dataflow violate a policy it does not violate now, naming the
 * dataflows and their violations (409 `policy_violation`). Only the sandbox's active dataflows are
 * evaluated, each twice (before and after) against facts loaded once. `what` says the edit, as the
 * message starts: "Enabling policy 'Restrict data export'".
 */
export async function refuseEditViolations(
  db: Executor,
  sandbox: string,
  activeDataflows: ActiveDataflows | undefined,
  what: string,
  change: (facts: GovernanceFacts) => GovernanceFacts,
): Promise<void> {
  const dataflows = (await activeDataflows?.(db, sandbox)) ?? [];
  if (!dataflows.length) return;
  const before = await loadGovernanceFacts(db, sandbox);
  const after = change(before);
  const refused = dataflows.flatMap((dataflow) => {
    const existing = new Set(findViolations(before, dataflow).map((v) => violationKey(dataflow.name, v)));
    const added = findViolations(after, dataflow).filter(
      (v) => !existing.has(violationKey(dataflow.name, v)),
    );
    return added.length ? [{ dataflow: { id: dataflow.id, name: dataflow.name }, violations: added }] : [];
  });
  if (!refused.length) return;
  const names = refused.map((r) => `'${r.dataflow.name}'`).join(", ");
  const first = refused[0]?.violations[0];
  throw new HeraldError(
    "conflict",
    "policy_violation",
    `${what} would make active dataflow(s) ${names} violate a policy: ${first?.message}; pause them or change them first`,
    [],
    { dataflows: refused, violations: refused.flatMap((r) => r.violations) },
  );
}
