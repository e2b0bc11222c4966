import fs from "node:fs";
import { input, password } from "@inquirer/prompts";
import { Command } from "commander";
import type { z } from "zod";
import { recordAudit } from "../access/index.ts";
import { type Herald, openHerald } from "../api/index.ts";
import {
  type AccountPatch,
  accountUpdateAuditDetails,
  askForMissingFields,
  createAccount,
  type DestinationDefinition,
  deleteAccount,
  type FieldToAsk,
  fieldsOf,
  fieldsToAsk,
  getAccount,
  listAccounts,
  openAccountConnection,
  recordsPerSecondSchema,
  revalidateAccount,
  typedAnswer,
  updateAccount,
} from "../destinations/index.ts";
import { parseInput } from "../errors/index.ts";
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
  return askForMissingFields(schema, values, promptFor(definition));
}

/** Asks for one field on the terminal: a secret without echo; an alternative may be skipped. */
function promptFor(definition: DestinationDefinition) {
  return (field: FieldToAsk): Promise<string> => {
    const message = field.required ? `${field.name}:` : `${field.name} (${field.why}; empty to skip):`;
    return definition.secretFields.includes(field.name)
      ? password({ message, mask: "*", validate: (value) => !field.required || value !== "" || "required" })
      : input({ message, required: field.required });
  };
}

/**
 * A new connection for an account: its current fields without its secrets, `given` over them, and
 * the secrets its destination needs asked for on a terminal as `accounts create` asks. Off a
 * terminal, the fields still wanted are an error naming them.
 */
async function newConnection(
  herald: Herald,
  sandbox: string,
  id: string,
  given: Record<string, string>,
): Promise<Record<string, unknown>> {
  const { definition, connection } = await openAccountConnection(herald, sandbox, id);
  const schema = definition.connectionSchema;
  const values = {
    ...Object.fromEntries(
      Object.entries(connection).filter(([key]) => !definition.secretFields.includes(key)),
    ),
    ...typedFlags(schema, given),
  };
  if (process.stdin.isTTY) return askForMissingFields(schema, values, promptFor(definition));
  const missing = fieldsToAsk(schema, values);
  if (missing.length)
    throw new Error(
      `missing connection field${missing.length > 1 ? "s" : ""} for ${definition.name}: ${missing.map((f) => (f.why ? `${f.name} (${f.why})` : f.name)).join(", ")} (pass --field name=value or --connection-file; not prompting because standard input is not a terminal)`,
    );
  return values;
}

/** `--encryption-key-file <file>`: the armored OpenPGP public key the account's files are encrypted to. */
function encryptionKeyFromFile(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(
      `--encryption-key-file ${file}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** What the CLI prints of an account's encryption: the key's fingerprint, or nothing. */
const encryptionNote = (account: { encryption: { fingerprint: string } | null }) =>
  account.encryption ? `; files encrypted to ${account.encryption.fingerprint}` : "";

/** A JSON file's object: a whole connection, secrets included (kept out of the shell's history). */
function connectionFromFile(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`--connection-file ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new Error(`--connection-file ${file}: expected a JSON object of connection fields`);
  return parsed as Record<string, unknown>;
}

const create = newCommand("create", "Connect an account; its credentials are checked before it is saved")
  .argument("<destination>", "catalog id, e.g. sftp or amazon-s3")
  // Checked in the action, after the argument: commander checks required options first, so a bare
  // `accounts create` would ask for --name before the destination it needs before anything.
  .option("--name <name>", "a name for the account (required)")
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
  .option(
    "--records-per-second <n>",
    "streamed records per second at most to this account (streaming destinations)",
  )
  .option(
    "--encryption-key-file <file>",
    "an ASCII-armored OpenPGP public key: the account's files are encrypted to it (`gpg --armor --export <id>`)",
  )
  .action(
    async (
      destination: string,
      options: GlobalOptions & {
        name?: string;
        field: Record<string, string>;
        detail: Record<string, string>;
        recordsPerSecond?: string;
        encryptionKeyFile?: string;
      },
    ) => {
      const name = options.name;
      if (!name) throw new Error("required option '--name <name>' not specified");
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
          name,
          connection,
          details,
          ...(options.recordsPerSecond !== undefined
            ? { recordsPerSecond: rateOption(options.recordsPerSecond) }
            : {}),
          ...(options.encryptionKeyFile
            ? { encryptionKey: encryptionKeyFromFile(options.encryptionKeyFile) }
            : {}),
        });
        await recordAudit(herald.store, {
          sandbox: options.sandbox,
          actor: "cli",
          action: "create",
          resource: "account",
          resourceId: account.id,
          details: {
            destination,
            name: account.name,
            ...(account.recordsPerSecond === null ? {} : { recordsPerSecond: account.recordsPerSecond }),
            ...(account.encryption ? { encryptionKey: account.encryption.fingerprint } : {}),
          },
        });
        process.stdout.write(
          `connected account ${account.id} (${account.name}) to ${definition.name}${encryptionNote(account)}\n`,
        );
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
      for (const a of accounts) {
        const rate = a.recordsPerSecond === null ? "" : `  (${a.recordsPerSecond} records/s)`;
        process.stdout.write(`${a.id}  ${a.destinationId.padEnd(20)} ${a.name}${rate}\n`);
      }
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

const rename = newCommand("rename", "Give an account a new name (as accounts update --name)")
  .argument("<id>")
  .argument("<name>")
  .action((id: string, name: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      const { account } = await updateAndAudit(herald, options.sandbox, id, { name });
      process.stdout.write(`account ${id} is now '${account.name}'\n`);
    }),
  );

/** `--records-per-second <n>` as a rate, `--no-records-per-second` (false) as none. */
function rateOption(value: string | false): number | null {
  if (value === false) return null;
  if (!/^\d+$/.test(value))
    throw new Error(`--records-per-second: expected a whole number of records per second, got '${value}'`);
  return parseInput(
    recordsPerSecondSchema,
    Number(value),
    "--records-per-second",
    () => "--records-per-second",
  );
}

async function updateAndAudit(herald: Herald, sandbox: string, id: string, patch: AccountPatch) {
  const update = await updateAccount(herald, sandbox, id, patch);
  await recordAudit(herald.store, {
    sandbox,
    actor: "cli",
    action: "update",
    resource: "account",
    resourceId: id,
    details: accountUpdateAuditDetails(update),
  });
  return update;
}

const update = newCommand(
  "update",
  "Rename an account, give it new credentials (checked before they are saved) or its own streaming rate",
)
  .argument("<id>")
  .option("--name <name>", "a new name")
  .option("--records-per-second <n>", "streamed records per second at most to this account")
  .option("--no-records-per-second", "drop the account's own rate: the global one applies")
  .option("--connection-file <file>", "a JSON file holding the whole new connection, secrets included")
  .option("--encryption-key-file <file>", "a new OpenPGP public key for the account's files")
  .option("--no-encryption-key", "send the account's files unencrypted from the next run")
  .option("--new-credentials", "ask on a terminal for the connection's secrets (the other fields are kept)")
  .option(
    "--field <key=value>",
    "a connection field to change (repeat); the secrets are asked for as with --new-credentials",
    collect,
  )
  .action(
    (
      id: string,
      options: GlobalOptions & {
        name?: string;
        recordsPerSecond?: string | false;
        connectionFile?: string;
        newCredentials?: boolean;
        field?: Record<string, string>;
        encryptionKeyFile?: string;
        encryptionKey?: boolean;
      },
    ) =>
      withHerald(options, async (herald) => {
        const prompted = options.newCredentials || options.field !== undefined;
        if (options.connectionFile && prompted)
          throw new Error("give --connection-file or --new-credentials/--field, not both");
        const patch: AccountPatch = {
          ...(options.name !== undefined ? { name: options.name } : {}),
          ...(options.recordsPerSecond !== undefined
            ? { recordsPerSecond: rateOption(options.recordsPerSecond) }
            : {}),
          ...(options.connectionFile ? { connection: connectionFromFile(options.connectionFile) } : {}),
          ...(prompted
            ? { connection: await newConnection(herald, options.sandbox, id, options.field ?? {}) }
            : {}),
          ...(options.encryptionKeyFile
            ? { encryptionKey: encryptionKeyFromFile(options.encryptionKeyFile) }
            : options.encryptionKey === false
              ? { encryptionKey: null }
              : {}),
        };
        if (Object.keys(patch).length === 0)
          throw new Error(
            "nothing to change: give --name, --records-per-second, --no-records-per-second, --connection-file, --new-credentials, --field, --encryption-key-file or --no-encryption-key",
          );
        const { account, changed } = await updateAndAudit(herald, options.sandbox, id, patch);
        process.stdout.write(
          `account ${id} (${account.name}): ${changed.length ? `changed ${changed.join(", ")}` : "nothing changed"}${account.recordsPerSecond === null ? "" : `; ${account.recordsPerSecond} records/s`}${encryptionNote(account)}\n`,
        );
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
  .addCommand(update)
  .addCommand(rename)
  .addCommand(validate)
  .addCommand(remove);
