import { Command } from "commander";
import { recordAudit } from "../access/index.ts";
import { openHerald } from "../api/index.ts";
import { addLabelledField } from "../governance/index.ts";
import { FIELD_TYPES, listFields } from "../schema/index.ts";
import { configFrom, type GlobalOptions, newCommand, printJson } from "./context.ts";

const list = newCommand("list", "List profile fields and event properties")
  .option("--json", "print JSON")
  .action(async (options: GlobalOptions) => {
    const herald = await openHerald(configFrom(options));
    try {
      const fields = await listFields(herald.store, options.sandbox);
      if (options.json) return printJson(fields);
      for (const f of fields) {
        const identity = f.namespace ? ` identity:${f.namespace}${f.primary ? " (primary)" : ""}` : "";
        const labels = f.labels.length ? ` labels:${f.labels.join(",")}` : "";
        process.stdout.write(
          `${f.entity.padEnd(8)} ${f.path.padEnd(32)} ${f.type.padEnd(10)}${identity}${labels}\n`,
        );
      }
    } finally {
      await herald.close();
    }
  });

const add = newCommand("add", "Add a field: a typed column of profiles (or of events with --event)")
  .argument("<path>", "dotted field path, e.g. loyalty.memberSince")
  .requiredOption("--type <type>", `one of ${FIELD_TYPES.join(", ")}`)
  .option("--namespace <namespace>", "make it an identity in this namespace")
  .option("--event", "an event property instead of a profile field")
  .option("--label <labels>", "comma-separated data-usage labels")
  .option("--description <text>", "what the field holds")
  .action(
    async (
      path: string,
      options: GlobalOptions & {
        type: string;
        namespace?: string;
        event?: boolean;
        label?: string;
        description?: string;
      },
    ) => {
      const herald = await openHerald(configFrom(options));
      try {
        const field = await addLabelledField(herald.store, options.sandbox, {
          path,
          type: options.type as (typeof FIELD_TYPES)[number],
          entity: options.event ? "event" : "profile",
          ...(options.namespace ? { namespace: options.namespace } : {}),
          labels: options.label ? options.label.split(",").map((l) => l.trim()) : [],
          ...(options.description ? { description: options.description } : {}),
        });
        await recordAudit(herald.store, {
          sandbox: options.sandbox,
          actor: "cli",
          action: "create",
          resource: "schema_field",
          resourceId: field.path,
          details: { ...field },
        });
        process.stdout.write(`added ${field.entity} field ${field.path} (${field.type})\n`);
      } finally {
        await herald.close();
      }
    },
  );

export const schemaCommand = new Command("schema")
  .description("Inspect and extend the schema")
  .addCommand(list)
  .addCommand(add);
