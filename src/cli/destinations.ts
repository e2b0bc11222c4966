import { input, password } from "@inquirer/prompts";
import { Command } from "commander";
import type { z } from "zod";
import { recordAudit } from "../access/index.ts";
import { openHerald } from "../api/index.ts";
import {
  askForMissingFields,
  createAccount,
  type DestinationDefinition,
  deleteAccount,
  fieldsOf,
  getAccount,
  listAccounts,
  renameAccount,
  revalidateAccount,
  typedAnswer,
} from "../destinations/index.ts";
import { configFrom, type GlobalOptions, newCommand, printJson, withHerald } from "./context.ts";

const list = newCommand("list", "The destination catalog")
  .option("--category <category>", "cloud_storage, streaming, email_marketing or advertising")
  .option("--search <text>", "text to look for in names and descriptions")
  .option("--json", "print JSON")
  .action(async (options: GlobalOptions & { category?: string; search?: string }) => {
    const herald = await openHerald(configFrom(options));
    try {
      const items = herald.catalog.list({
        ...(options.category ? { category: options.category as DestinationDefinition["category"] } : {}),
        ...(options.search ? { search: options.search } : {}),
      });
      if (options.json)
        return printJson(
          items.map(({ connector: _c, connectionSchema: _s, detailsSchema: _d, ...rest }) => rest),
        );
      for (const d of items) process.stdout.write(`${d.id.padEnd(22)} ${d.category.padEnd(16)} ${d.name}\n`);
    } finally {
      await herald.close();
    }
  });

export const destinationsCommand = new Command("destinations")
  .description("Browse the destination catalog")
  .addCommand(list);

/** `key=value` pairs from repeated flags. */
function collect(value: string, previous: Record<string, string>) {
  const eq = value.indexOf("=");
  if (eq < 1) throw new Error(`expected key=value, got '${value}'`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/** Flags' text as the schema's types: numbers and booleans become JSON ones. */
function typedFlags(schema: z.ZodType, given: Record<string, string>): Record<string, unknown> {
  const fields = fieldsOf(schema);
  return Object.fromEntries(
    Object.entries(given).map(([key, value]) => [
      key,
      typedAnswer(value, fields.find((f) => f.name === key)?.type),
    ]),
  );
}

/**
 * The fields of `part` given as flags, typed, with what is missing asked for on a terminal: the
 * required fields, then those the connector's checks want (one of SFTP's password or privateKey,
 * Azure's connectionString or sasUrl, ...), secrets without echo. Off a terminal, missing required
 * fields are an error naming them; the connector's checks name the rest when the account is created.
 */
async function completeFields(
  definition: DestinationDefinition,
  schema: z.ZodType,
  given: Record<string, string>,
  part: string,
): Promise<Record<string, unknown>> {
  const fields = fieldsOf(schema);
  const values = typedFlags(schema, given);
  if (!process.stdin.isTTY) {
    const missing = fields.filter((f) => f.required && given[f.name] === undefined);
    if (missing.length)
      throw new Error(
        `missing ${part} field${missing.length > 1 ? "s" : ""} for ${definition.name}: ${missing.map((f) => f.name).join(", ")} (pass --${part === "connection" ? "field" : "detail"} name=value; not prompting because standard input is not a terminal)`,
      );
    return values;
  }
  return askForMissingFields(schema, values, (field) => {
    const message = field.required ? `${field.name}:` : `${field.name} (${field.why}; empty to skip):`;
    return definition.secretFields.includes(field.name)
      ? password({ message, mask: "*", validate: (value) => !field.required || value !== "" || "required" })
      : input({ message, required: field.required });
  });
}

const create = newCommand("create", "Connect an account; its credentials are checked before it is saved")
  .argument("<destination>", "catalog id, e.g. sftp or amazon-s3")
  .requiredOption("--name <name>", "a name for the account")
  .option(
    "--field <key=value>",
    "a connection field (repeat); missing ones are asked for on a terminal",
    collect,
    {},
  )
  .option(
    "--detail <key=value>",
    "a destination detail to validate against (folder, bucket, ...)",
    collect,
    {},
  )
  .action(
    async (
      destination: string,
      options: GlobalOptions & {
        name: string;
        field: Record<string, string>;
        detail: Record<string, string>;
      },
    ) => {
      const herald = await openHerald(configFrom(options));
      try {
        const definition = herald.catalog.get(destination);
        const connection = await completeFields(
          definition,
          definition.connectionSchema,
          options.field,
          "connection",
        );
        const details = await completeFields(definition, definition.detailsSchema, options.detail, "details");
        const account = await createAccount(herald, options.sandbox, {
          destinationId: destination,
          name: options.name,
          connection,
          details,
        });
        await recordAudit(herald.store, {
          sandbox: options.sandbox,
          actor: "cli",
          action: "create",
          resource: "account",
          resourceId: account.id,
          details: { destination, name: account.name },
        });
        process.stdout.write(`connected account ${account.id} (${account.name}) to ${definition.name}\n`);
      } finally {
        await herald.close();
      }
    },
  );

const listAccountsCommand = newCommand("list", "Saved accounts (secrets are never shown)")
  .option("--json", "print JSON")
  .action(async (options: GlobalOptions) => {
    const herald = await openHerald(configFrom(options));
    try {
      const accounts = await listAccounts(herald, options.sandbox);
      if (options.json) return printJson(accounts);
      for (const a of accounts) process.stdout.write(`${a.id}  ${a.destinationId.padEnd(20)} ${a.name}\n`);
    } finally {
      await herald.close();
    }
  });

const remove = newCommand("delete", "Delete an account (refused while a dataflow uses it)")
  .argument("<id>")
  .action(async (id: string, options: GlobalOptions) => {
    const herald = await openHerald(configFrom(options));
    try {
      await deleteAccount(herald, options.sandbox, id, (accountId) =>
        herald.accountUsers ? herald.accountUsers(options.sandbox, accountId) : Promise.resolve([]),
      );
      await recordAudit(herald.store, {
        sandbox: options.sandbox,
        actor: "cli",
        action: "delete",
        resource: "account",
        resourceId: id,
        details: {},
      });
      process.stdout.write(`deleted account ${id}\n`);
    } finally {
      await herald.close();
    }
  });

const rename = newCommand("rename", "Give an account a new name")
  .argument("<id>")
  .argument("<name>")
  .action((id: string, name: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      const account = await renameAccount(herald, options.sandbox, id, name);
      await recordAudit(herald.store, {
        sandbox: options.sandbox,
        actor: "cli",
        action: "rename",
        resource: "account",
        resourceId: id,
        details: { name: account.name },
      });
      process.stdout.write(`account ${id} is now '${account.name}'\n`);
    }),
  );

const validate = newCommand("validate", "Check an account's stored credentials again against the service")
  .argument("<id>")
  .option(
    "--detail <key=value>",
    "new destination details to validate against (folder, bucket, ...); the account's last ones when none",
    collect,
  )
  .action((id: string, options: GlobalOptions & { detail?: Record<string, string> }) =>
    withHerald(options, async (herald) => {
      const { destinationId } = await getAccount(herald, options.sandbox, id);
      const details =
        options.detail && typedFlags(herald.catalog.get(destinationId).detailsSchema, options.detail);
      const account = await revalidateAccount(herald, options.sandbox, id, details);
      process.stdout.write(`account ${id} (${account.name}): credentials valid\n`);
    }),
  );

export const accountsCommand = new Command("accounts")
  .description("Destination accounts")
  .addCommand(create)
  .addCommand(listAccountsCommand)
  .addCommand(rename)
  .addCommand(validate)
  .addCommand(remove);
