import fs from "node:fs";
import { Command } from "commander";
import { recordAudit } from "../access/index.ts";
import type { Herald } from "../api/index.ts";
import {
  createLabel,
  createPolicy,
  deleteLabel,
  deletePolicy,
  getPolicy,
  labelField,
  listLabels,
  listPolicies,
  type Policy,
  policiesNamingLabel,
  printExpression,
  updatePolicy,
  type Violation,
} from "../governance/index.ts";
import { type GlobalOptions, newCommand, printJson, withHerald } from "./context.ts";

/** The CLI's governance changes are audited as the API's are, with the actor "cli". */
function audit(herald: Herald, sandbox: string, action: string, resource: string, id: string, details = {}) {
  return recordAudit(herald.store, { sandbox, actor: "cli", action, resource, resourceId: id, details });
}

/** Violations in plain words: the policy and action, the labels, where each comes from, what to do. */
export function printViolations(
  violations: readonly Violation[],
  out: NodeJS.WritableStream = process.stdout,
) {
  for (const v of violations) {
    out.write(
      `violates '${v.policy.name}': '${v.marketingAction}' is denied for ${v.expression}; in play: ${v.labels.join(", ")}\n`,
    );
    for (const e of v.lineage) {
      const use =
        e.usedBy === "segment" ? `read by segment '${e.segment?.name}'` : `mapped as column '${e.column}'`;
      out.write(`  ${e.label} on field '${e.field}', ${use}, to ${e.destination ?? "the destination"}\n`);
    }
    for (const s of v.suggestions) out.write(`  to resolve: ${s}\n`);
  }
}

const policyLine = (p: Policy) =>
  `${p.id}  ${p.status.padEnd(8)} ${p.core ? "core  " : "custom"} ${p.name}: ${p.marketingAction} when ${printExpression(p.expression)}\n`;

const listPoliciesCommand = newCommand("list", "Policies: the shipped core ones and the sandbox's own")
  .option("--json", "print JSON")
  .action((options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      const policies = await listPolicies(herald.store, options.sandbox);
      if (options.json) return printJson(policies);
      for (const p of policies) process.stdout.write(policyLine(p));
    }),
  );

const showPolicyCommand = newCommand("show", "One policy, by id or exact name")
  .argument("<policy>", "policy id or exact name")
  .action((policy: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => printJson(await getPolicy(herald.store, options.sandbox, policy))),
  );

const createPolicyCommand = newCommand(
  "create",
  'Create a policy from JSON: {"name", "marketingAction", "expression": {"operator": "OR", "operands": ["C2"]}, "status"}',
)
  .requiredOption("--file <path>", "the policy as JSON")
  .action((options: GlobalOptions & { file: string }) =>
    withHerald(options, async (herald) => {
      const input = JSON.parse(fs.readFileSync(options.file, "utf8")) as unknown;
      const policy = await createPolicy(herald.store, options.sandbox, input, herald.activeDataflows);
      await audit(herald, options.sandbox, "create", "policy", policy.id, { name: policy.name });
      process.stdout.write(policyLine(policy));
    }),
  );

/** enable and disable change the status alone; enabling is refused when an active dataflow would violate. */
const statusCommand = (name: "enable" | "disable", status: "enabled" | "disabled") =>
  newCommand(name, `${name === "enable" ? "Enable" : "Disable"} a policy`)
    .argument("<policy>", "policy id or exact name")
    .action((given: string, options: GlobalOptions) =>
      withHerald(options, async (herald) => {
        const policy = await updatePolicy(
          herald.store,
          options.sandbox,
          given,
          { status },
          herald.activeDataflows,
        );
        await audit(herald, options.sandbox, "update", "policy", policy.id, { changes: { status } });
        process.stdout.write(policyLine(policy));
      }),
    );

const deletePolicyCommand = newCommand("delete", "Delete a policy of the sandbox's own")
  .argument("<policy>", "policy id or exact name")
  .action((given: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      const policy = await deletePolicy(herald.store, options.sandbox, given);
      await audit(herald, options.sandbox, "delete", "policy", policy.id, { name: policy.name });
      process.stdout.write(`deleted policy ${policy.id} (${policy.name})\n`);
    }),
  );

export const policiesCommand = new Command("policies")
  .description("Data-usage policies: a marketing action denied when a label expression holds")
  .addCommand(listPoliciesCommand)
  .addCommand(showPolicyCommand)
  .addCommand(createPolicyCommand)
  .addCommand(statusCommand("enable", "enabled"))
  .addCommand(statusCommand("disable", "disabled"))
  .addCommand(deletePolicyCommand);

const listLabelsCommand = newCommand(
  "list",
  "Data-usage labels: core ones with their meaning, then custom ones",
)
  .option("--json", "print JSON")
  .action((options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      const labels = await listLabels(herald.store, options.sandbox);
      if (options.json) return printJson(labels);
      for (const l of labels)
        process.stdout.write(`${l.name.padEnd(8)} ${l.category.padEnd(9)} ${l.description}\n`);
    }),
  );

const createLabelCommand = newCommand("create", "Create a custom label")
  .argument("<name>", "letters, digits, '_' and '-'")
  .option("--description <text>", "what the label means", "")
  .action((name: string, options: GlobalOptions & { description: string }) =>
    withHerald(options, async (herald) => {
      const label = await createLabel(herald.store, options.sandbox, {
        name,
        description: options.description,
      });
      await audit(herald, options.sandbox, "create", "label", label.name);
      process.stdout.write(`created label ${label.name}\n`);
    }),
  );

const deleteLabelCommand = newCommand("delete", "Delete a custom label no field or policy uses")
  .argument("<name>", "the label")
  .action((name: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      await deleteLabel(herald.store, options.sandbox, name, (label) =>
        policiesNamingLabel(herald.store, options.sandbox, label),
      );
      await audit(herald, options.sandbox, "delete", "label", name);
      process.stdout.write(`deleted label ${name}\n`);
    }),
  );

const applyLabelsCommand = newCommand(
  "apply",
  "Set a field's labels (all of them: none clears); refused when an active dataflow would then violate a policy",
)
  .argument("<field>", "the field's path (person.name.firstName)")
  .argument("[labels...]", "the labels, core or custom")
  .option("--event", "an event property rather than a profile attribute")
  .action((path: string, labels: string[], options: GlobalOptions & { event?: boolean }) =>
    withHerald(options, async (herald) => {
      const entity = options.event ? "event" : "profile";
      const field = await labelField(
        herald.store,
        options.sandbox,
        { entity, path },
        labels,
        herald.activeDataflows,
      );
      await audit(herald, options.sandbox, "label", "schema_field", field.path, { labels: field.labels });
      process.stdout.write(`${field.path}: ${field.labels.join(", ") || "no labels"}\n`);
    }),
  );

export const labelsCommand = new Command("labels")
  .description("Data-usage labels (core and custom)")
  .addCommand(listLabelsCommand)
  .addCommand(applyLabelsCommand)
  .addCommand(createLabelCommand)
  .addCommand(deleteLabelCommand);
