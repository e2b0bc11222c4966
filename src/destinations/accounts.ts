import { randomUUID } from "node:crypto";
import { z } from "zod";
import {
  type EncryptionKeySummary,
  type KeyProvider,
  readEncryptionKey,
  seal,
  unseal,
} from "../crypto/index.ts";
import {
  conflict,
  HeraldError,
  isHeraldError,
  notFound,
  parseInput,
  validationError,
} from "../errors/index.ts";
import type { Executor, Store } from "../store/index.ts";
import type { Catalog } from "./catalog.ts";
import type { DestinationDefinition } from "./types.ts";

/** An account as the API shows it: never a secret, only which secret fields are set. */
export interface Account {
  id: string;
  destinationId: string;
  name: string;
  connection: Record<string, unknown>;
  secretsSet: string[];
  /** The destination details (bucket, container, stream, ...) the credentials were last checked with. */
  validationDetails: Record<string, unknown>;
  /** Streamed records per second at most for this account (streaming destinations); null: the global rate. */
  recordsPerSecond: number | null;
  /** The OpenPGP public key files are encrypted to (file destinations), or null: files go unencrypted. */
  encryption: EncryptionKeySummary | null;
  createdAt: Date;
  updatedAt: Date;
  validatedAt: Date | null;
}

interface AccountRow {
  id: string;
  destination_id: string;
  name: string;
  connection_public: string;
  connection_sealed: string;
  validation_details: string | null;
  records_per_second: number | null;
  encryption_key: string | null;
  encryption_summary: string | null;
  created_at: Date;
  updated_at: Date;
  validated_at: Date | null;
}

/** The most an INTEGER column holds: a rate above it means "no limit" anyway. */
const MAX_RECORDS_PER_SECOND = 2_147_483_647;

/** An account's own rate for streamed records; null clears it (the global rate applies again). */
export const recordsPerSecondSchema = z.number().int().min(1).max(MAX_RECORDS_PER_SECOND).nullable();

/** A new account as the API, the CLI and a dataflow's "connect" step take it. */
export const newAccountSchema = z.object({
  destination: z.string().min(1),
  name: z.string().min(1).max(200),
  connection: z.record(z.string(), z.unknown()),
  details: z.record(z.string(), z.unknown()).optional(),
  recordsPerSecond: recordsPerSecondSchema.optional(),
  encryptionKey: z
    .string()
    .min(1)
    .optional()
    .describe(
      "An ASCII-armored OpenPGP public key: every file exported through the account is encrypted to it (file destinations)",
    ),
});
export type NewAccount = z.infer<typeof newAccountSchema>;

/**
 * A change to an account, as the API, the CLI and `updateAccount` take it. `connection` is a whole
 * new connection, checked as at creation: fields left out are gone, secrets included.
 */
export const accountPatchSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    connection: z.record(z.string(), z.unknown()).optional(),
    recordsPerSecond: recordsPerSecondSchema.optional(),
    encryptionKey: z
      .string()
      .min(1)
      .nullable()
      .optional()
      .describe("A new OpenPGP public key for the files, or null: files go unencrypted from the next run"),
  })
  .refine((patch) => Object.values(patch).some((value) => value !== undefined), {
    message: "give at least one of name, connection, recordsPerSecond, encryptionKey",
  });
export type AccountPatch = z.infer<typeof accountPatchSchema>;

/** An updated account and what changed: `name`, `recordsPerSecond`, `connection.<field>` (names only). */
export interface AccountUpdate {
  account: Account;
  changed: string[];
}

/** What an update changed, for the audit log: field names, and only values that are never secrets. */
export function accountUpdateAuditDetails({ account, changed }: AccountUpdate): Record<string, unknown> {
  return {
    changed,
    name: account.name,
    ...(changed.includes("recordsPerSecond") ? { recordsPerSecond: account.recordsPerSecond } : {}),
    ...(changed.includes("encryptionKey") ? { encryptionKey: account.encryption?.fingerprint ?? null } : {}),
  };
}

/** An account to create, as `createAccount` takes it: connection and details are checked by it. */
export interface AccountInput {
  destinationId: string;
  name: string;
  connection: unknown;
  details?: unknown;
  /** Streamed records per second at most (streaming destinations); absent or null: the global rate. */
  recordsPerSecond?: number | null | undefined;
  /** An armored OpenPGP public key the account's files are encrypted to (file destinations). */
  encryptionKey?: string | undefined;
}

export interface AccountDeps {
  store: Store;
  catalog: Catalog;
  keys: KeyProvider;
}

function parseWith<T>(
  definition: DestinationDefinition,
  schema: DestinationDefinition["connectionSchema"],
  value: unknown,
  part: string,
): T {
  return parseInput(schema, value, `${part} for ${definition.name}`, (path) =>
    [part, ...path.map(String)].join("."),
  ) as T;
}

function splitSecrets(definition: DestinationDefinition, connection: Record<string, unknown>) {
  const visible: Record<string, unknown> = {};
  const secrets: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(connection)) {
    const redact = definition.redactedFields?.[key];
    if (redact && typeof value === "string") {
      visible[key] = redact(value);
      secrets[key] = value;
    } else if (definition.secretFields.includes(key)) secrets[key] = value;
    else visible[key] = value;
  }
  return { visible, secrets };
}

/**
 * The public fields as the API shows them. A redacted field is stored shown already; one saved
 * before its field was redacted (an HTTP URL with an API key in its query) is shown redacted too.
 */
function shownConnection(
  definition: DestinationDefinition | undefined,
  visible: Record<string, unknown>,
): Record<string, unknown> {
  const shown = { ...visible };
  for (const [key, redact] of Object.entries(definition?.redactedFields ?? {})) {
    const value = shown[key];
    if (typeof value === "string") shown[key] = redact(value);
  }
  return shown;
}

/** A rate is for streaming destinations: a file destination's runs are not paced by one. */
function requireStreamingForRate(
  definition: DestinationDefinition,
  recordsPerSecond: number | null | undefined,
) {
  if (typeof recordsPerSecond !== "number" || definition.connector.kind === "stream") return;
  const message = `recordsPerSecond: ${definition.name} receives files on a schedule; a rate applies to streaming destinations only`;
  throw validationError(message, [{ field: "recordsPerSecond", message }]);
}

function toAccount(
  row: AccountRow,
  definition: DestinationDefinition | undefined,
  secretKeys: string[],
): Account {
  return {
    id: row.id,
    destinationId: row.destination_id,
    name: row.name,
    connection: shownConnection(definition, JSON.parse(row.connection_public) as Record<string, unknown>),
    // The sealed full values of redacted fields are not secrets the API lists: their view is shown.
    secretsSet: secretKeys.filter((key) => definition?.secretFields.includes(key)),
    validationDetails: JSON.parse(row.validation_details ?? "{}") as Record<string, unknown>,
    recordsPerSecond: row.records_per_second ?? null,
    encryption: row.encryption_summary ? summaryOf(row.encryption_summary) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    validatedAt: row.validated_at,
  };
}

function summaryOf(json: string): EncryptionKeySummary {
  const summary = JSON.parse(json) as EncryptionKeySummary;
  return { ...summary, expiresAt: summary.expiresAt === null ? null : new Date(summary.expiresAt) };
}

/**
 * A key to encrypt an account's files to: file destinations only (records streamed in real time
 * are not files), and a public key that can encrypt now (src/crypto/pgp.ts).
 */
async function fileEncryption(definition: DestinationDefinition, armored: string) {
  if (definition.connector.kind !== "file") {
    const message = `${definition.name} receives records in real time; an encryption key applies to file destinations only`;
    throw validationError(`encryptionKey: ${message}`, [{ field: "encryptionKey", message }]);
  }
  const { summary } = await readEncryptionKey(armored, "encryptionKey");
  return { armored, summary };
}

/** What a sealed connection is bound to: opened on another account, it does not open. */
export const sealContext = (sandbox: string, id: string) => `account:${sandbox}:${id}`;

/**
 * Checks a new account's credentials against the real service: a wrong password, unknown host or
 * missing folder is an error here. Nothing is saved until `save`, so a caller can check more with
 * the `connection` first (a dataflow's details) and still leave no account when that is refused.
 */
export async function checkNewAccount(deps: AccountDeps, sandbox: string, input: AccountInput) {
  const definition = deps.catalog.get(input.destinationId);
  if (!input.name.trim())
    throw validationError("name: an account needs a name", [{ field: "name", message: "required" }]);
  const connection = parseWith<Record<string, unknown>>(
    definition,
    definition.connectionSchema,
    input.connection,
    "connection",
  );
  const details = parseWith<unknown>(definition, definition.detailsSchema, input.details ?? {}, "details");
  const recordsPerSecond = parseInput(
    recordsPerSecondSchema.optional(),
    input.recordsPerSecond,
    "account",
    () => "recordsPerSecond",
  );
  requireStreamingForRate(definition, recordsPerSecond);
  const encryption =
    input.encryptionKey === undefined ? undefined : await fileEncryption(definition, input.encryptionKey);
  await definition.connector.validate(connection as never, details as never);
  const save = async (): Promise<Account> => {
    const id = randomUUID();
    const { visible, secrets } = splitSecrets(definition, connection);
    const now = new Date();
    await deps.store.query(
      sandbox,
      `INSERT INTO accounts (id, sandbox, destination_id, name, connection_public, connection_sealed, validation_details, records_per_second, encryption_key, encryption_summary, created_at, updated_at, validated_at)
       VALUES ($1, $sandbox, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10)`,
      [
        id,
        definition.id,
        input.name.trim(),
        JSON.stringify(visible),
        await seal(deps.keys, JSON.stringify(secrets), sealContext(sandbox, id)),
        JSON.stringify(details),
        recordsPerSecond ?? null,
        encryption?.armored ?? null,
        encryption ? JSON.stringify(encryption.summary) : null,
        now,
      ],
    );
    return getAccount(deps, sandbox, id);
  };
  return { definition, connection, details, save };
}

/**
 * Creates an account after checking its credentials against the real service (`checkNewAccount`):
 * refused, nothing is saved. Secret fields are sealed; the details checked with (not secret:
 * bucket, container, stream) are kept for re-validation.
 */
export async function createAccount(
  deps: AccountDeps,
  sandbox: string,
  input: AccountInput,
): Promise<Account> {
  return (await checkNewAccount(deps, sandbox, input)).save();
}

async function getRow(deps: AccountDeps, sandbox: string, id: string): Promise<AccountRow> {
  const [row] = await deps.store.query<AccountRow>(
    sandbox,
    "SELECT * FROM accounts WHERE sandbox = $sandbox AND id = $1",
    [id],
  );
  if (!row) throw notFound("account", id);
  return row;
}

async function secretKeysOf(deps: AccountDeps, sandbox: string, row: AccountRow): Promise<string[]> {
  return Object.keys(
    JSON.parse(await unseal(deps.keys, row.connection_sealed, sealContext(sandbox, row.id))) as object,
  );
}

export async function getAccount(deps: AccountDeps, sandbox: string, id: string): Promise<Account> {
  const row = await getRow(deps, sandbox, id);
  return toAccount(row, deps.catalog.get(row.destination_id), await secretKeysOf(deps, sandbox, row));
}

export async function listAccounts(
  deps: AccountDeps,
  sandbox: string,
  destinationId?: string,
): Promise<Account[]> {
  const rows = await deps.store.query<AccountRow>(
    sandbox,
    "SELECT * FROM accounts WHERE sandbox = $sandbox AND ($1::TEXT IS NULL OR destination_id = $1) ORDER BY name, id",
    [destinationId ?? null],
  );
  return Promise.all(
    rows.map(async (r) =>
      toAccount(r, deps.catalog.get(r.destination_id), await secretKeysOf(deps, sandbox, r)),
    ),
  );
}

/** The public fields with the sealed ones over them (a redacted field's full value among these). */
async function fullConnection(deps: AccountDeps, sandbox: string, row: AccountRow) {
  const secrets = JSON.parse(
    await unseal(deps.keys, row.connection_sealed, sealContext(sandbox, row.id)),
  ) as Record<string, unknown>;
  return { ...(JSON.parse(row.connection_public) as Record<string, unknown>), ...secrets };
}

/**
 * The full connection, secrets included: for connectors only, never for a response or a log. With
 * it, what a sender needs to follow the account: its own rate (undefined: the global one) and
 * `updatedAt`, which moves on every change (new credentials: reopen a session opened before).
 */
export async function openAccountConnection(deps: AccountDeps, sandbox: string, id: string) {
  const row = await getRow(deps, sandbox, id);
  return {
    definition: deps.catalog.get(row.destination_id),
    connection: await fullConnection(deps, sandbox, row),
    recordsPerSecond: row.records_per_second ?? undefined,
    /** The armored OpenPGP public key to encrypt files to, if the account has one. */
    encryptionKey: row.encryption_key ?? undefined,
    updatedAt: row.updated_at,
  };
}

/** Each account's name by id, without opening credentials: for lineage and messages. */
export async function accountNames(db: Executor, sandbox: string): Promise<Map<string, string>> {
  const rows = await db.query<{ id: string; name: string }>(
    sandbox,
    "SELECT id, name FROM accounts WHERE sandbox = $sandbox",
  );
  return new Map(rows.map((r) => [r.id, r.name]));
}

/**
 * What a session to the account depends on, read cheaply (no unsealing): when it last changed (new
 * credentials, a new rate) and its own rate (undefined: the global one). Undefined once deleted.
 */
export async function accountVersion(
  db: Executor,
  sandbox: string,
  id: string,
): Promise<{ updatedAt: Date; recordsPerSecond: number | undefined } | undefined> {
  const [row] = await db.query<{ updated_at: Date; records_per_second: number | null }>(
    sandbox,
    "SELECT updated_at, records_per_second FROM accounts WHERE sandbox = $sandbox AND id = $1",
    [id],
  );
  if (!row) return undefined;
  return {
    updatedAt: new Date(row.updated_at),
    recordsPerSecond: row.records_per_second === null ? undefined : Number(row.records_per_second),
  };
}

/**
 * The details an account was last validated with, to check new credentials against. Accounts made
 * before details were kept have none, which a bucket or a stream needs: re-validating with them
 * keeps them (`revalidateAccount`).
 */
function lastValidatedDetails(definition: DestinationDefinition, row: AccountRow): unknown {
  try {
    return parseWith<unknown>(
      definition,
      definition.detailsSchema,
      JSON.parse(row.validation_details ?? "{}"),
      "details",
    );
  } catch (error) {
    if (!isHeraldError(error)) throw error;
    throw validationError(
      `${error.message} (the details new credentials are checked with: re-validate the account with them first)`,
      error.issues,
    );
  }
}

/** The connection fields whose values differ, by name (a secret's value is compared, never shown). */
function changedFields(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return names.filter((name) => JSON.stringify(before[name]) !== JSON.stringify(after[name]));
}

/**
 * Changes an account's name, credentials, rate or files' encryption key. New credentials (a whole connection, parsed and
 * sealed as at creation) are checked against the service first, with the details the account was
 * last validated with: refused, nothing changes. A rate is for streaming destinations only.
 * `updated_at` moves on every change, so a streaming session opened before is reopened.
 *
 * @example updateAccount(deps, "prod", id, { connection: { ...publicFields, password: "new" } })
 */
export async function updateAccount(
  deps: AccountDeps,
  sandbox: string,
  id: string,
  patch: unknown,
): Promise<AccountUpdate> {
  const { name, connection, recordsPerSecond, encryptionKey } = parseInput(
    accountPatchSchema,
    patch,
    "account change",
  );
  if (name !== undefined && !name.trim())
    throw validationError("name: an account needs a name", [{ field: "name", message: "required" }]);
  const row = await getRow(deps, sandbox, id);
  const definition = deps.catalog.get(row.destination_id);
  requireStreamingForRate(definition, recordsPerSecond);
  const changed: string[] = [];
  const sets: string[] = [];
  const values: unknown[] = [];
  const set = (column: string, value: unknown) => {
    values.push(value);
    sets.push(`${column} = $${values.length}`);
  };
  if (name !== undefined) {
    if (name.trim() !== row.name) changed.push("name");
    set("name", name.trim());
  }
  if (recordsPerSecond !== undefined) {
    if (recordsPerSecond !== row.records_per_second) changed.push("recordsPerSecond");
    set("records_per_second", recordsPerSecond);
  }
  if (encryptionKey !== undefined) {
    const encryption = encryptionKey === null ? null : await fileEncryption(definition, encryptionKey);
    if ((encryption?.armored ?? null) !== row.encryption_key) changed.push("encryptionKey");
    set("encryption_key", encryption?.armored ?? null);
    set("encryption_summary", encryption ? JSON.stringify(encryption.summary) : null);
  }
  if (connection !== undefined) {
    const parsed = parseWith<Record<string, unknown>>(
      definition,
      definition.connectionSchema,
      connection,
      "connection",
    );
    await definition.connector.validate(parsed as never, lastValidatedDetails(definition, row) as never);
    changed.push(
      ...changedFields(await fullConnection(deps, sandbox, row), parsed).map((f) => `connection.${f}`),
    );
    const { visible, secrets } = splitSecrets(definition, parsed);
    set("connection_public", JSON.stringify(visible));
    set("connection_sealed", await seal(deps.keys, JSON.stringify(secrets), sealContext(sandbox, id)));
    set("validated_at", new Date());
  }
  set("updated_at", new Date());
  values.push(id);
  await deps.store.query(
    sandbox,
    `UPDATE accounts SET ${sets.join(", ")} WHERE sandbox = $sandbox AND id = $${values.length}`,
    values,
  );
  return { account: await getAccount(deps, sandbox, id), changed };
}

/**
 * Checks the stored credentials again (e.g. after a password rotation at the destination), with
 * the details the account was last validated with, or with new ones, kept when they pass.
 */
export async function revalidateAccount(
  deps: AccountDeps,
  sandbox: string,
  id: string,
  details?: unknown,
): Promise<Account> {
  const row = await getRow(deps, sandbox, id);
  const definition = deps.catalog.get(row.destination_id);
  const stored: unknown = JSON.parse(row.validation_details ?? "{}");
  const parsedDetails = parseWith<unknown>(
    definition,
    definition.detailsSchema,
    details ?? stored,
    "details",
  );
  await definition.connector.validate(
    (await fullConnection(deps, sandbox, row)) as never,
    parsedDetails as never,
  );
  await deps.store.query(
    sandbox,
    "UPDATE accounts SET validated_at = $1, validation_details = $2 WHERE sandbox = $sandbox AND id = $3",
    [new Date(), JSON.stringify(parsedDetails), id],
  );
  return getAccount(deps, sandbox, id);
}

/**
 * Refuses a key that cannot open the credentials already sealed in the store (one account is
 * tried): a process started with another HERALD_SECRET_KEY than its peers would otherwise run,
 * fail every export and stream with `key_mismatch`, and, leading the dispatcher, stall every stream.
 */
export async function requireKeyOpensAccounts(deps: Pick<AccountDeps, "store" | "keys">): Promise<void> {
  const [row] = await deps.store.queryGlobal<{ sandbox: string; id: string; connection_sealed: string }>(
    "SELECT sandbox, id, connection_sealed FROM accounts ORDER BY created_at LIMIT 1",
  );
  if (!row) return;
  try {
    await unseal(deps.keys, row.connection_sealed, sealContext(row.sandbox, row.id));
  } catch (error) {
    if (!isHeraldError(error) || !["key_mismatch", "key_unavailable"].includes(error.code)) throw error;
    throw new HeraldError(
      "unavailable",
      error.code,
      error.code === "key_mismatch"
        ? "The configured key cannot open the credentials this store holds: set HERALD_SECRET_KEY to the key that sealed them (the one the other Herald processes use, or the data dir's keys/local.key)"
        : `The configured key cannot open the credentials this store holds: ${error.message}`,
    );
  }
}

/** Deletes an account unless a dataflow still uses it; `usedBy` names those dataflows. */
export async function deleteAccount(
  deps: AccountDeps,
  sandbox: string,
  id: string,
  usedBy: (accountId: string) => Promise<string[]> = async () => [],
): Promise<void> {
  await getRow(deps, sandbox, id);
  const users = await usedBy(id);
  if (users.length) {
    throw conflict(
      "account_in_use",
      `Account is used by dataflow${users.length > 1 ? "s" : ""} ${users.map((u) => `'${u}'`).join(", ")}; delete or change them first`,
    );
  }
  await deps.store.query(sandbox, "DELETE FROM accounts WHERE sandbox = $sandbox AND id = $1", [id]);
}
