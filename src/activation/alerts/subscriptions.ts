import { randomUUID } from "node:crypto";
import { z } from "zod";
import { type AccountDeps, getAccount } from "../../destinations/index.ts";
import { notFound, parseInput, validationError } from "../../errors/index.ts";
import type { Executor } from "../../store/index.ts";
import { getDataflow } from "../dataflows.ts";

/**
 * What users subscribe to about file exports (REFERENCE, "Monitoring and alerts"): a run started,
 * succeeded, failed (or partly), is still running after a delay, or activated too few of the
 * profiles it received.
 */
export const ALERT_EVENTS = [
  "run.started",
  "run.succeeded",
  "run.failed",
  "run.delayed",
  "run.skipped_rate",
] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];

/** REFERENCE's defaults: delayed over 150 minutes, skipped rate above 1%. */
export const DEFAULT_DELAYED_AFTER_MINUTES = 150;
export const DEFAULT_SKIPPED_RATE_ABOVE_PERCENT = 1;

export const alertSubscriptionInputSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    accountId: z
      .string()
      .min(1)
      .describe("An HTTP API account: alerts are POSTed to its URL with its headers and credentials"),
    events: z
      .array(z.enum(ALERT_EVENTS))
      .min(1)
      .refine((events) => new Set(events).size === events.length, "each event once"),
    dataflowId: z
      .string()
      .min(1)
      .optional()
      .describe("Only this dataflow's runs; every dataflow's when left out"),
    delayedAfterMinutes: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60)
      .default(DEFAULT_DELAYED_AFTER_MINUTES)
      .describe("run.delayed: a run still going after this many minutes"),
    skippedRateAbovePercent: z
      .number()
      .min(0)
      .max(100)
      .default(DEFAULT_SKIPPED_RATE_ABOVE_PERCENT)
      .describe(
        "run.skipped_rate: the share of profiles received and not activated (excluded or failed) above this",
      ),
  })
  .strict();
export type AlertSubscriptionInput = z.input<typeof alertSubscriptionInputSchema>;

export interface AlertSubscription {
  id: string;
  name: string;
  accountId: string;
  events: AlertEvent[];
  dataflowId: string | null;
  delayedAfterMinutes: number;
  skippedRateAbovePercent: number;
  createdAt: Date;
}

interface SubscriptionRow {
  id: string;
  name: string;
  account_id: string;
  events: string;
  dataflow_id: string | null;
  delayed_after_minutes: number;
  skipped_rate_above: number;
  created_at: Date;
}

const toSubscription = (row: SubscriptionRow): AlertSubscription => ({
  id: row.id,
  name: row.name,
  accountId: row.account_id,
  events: JSON.parse(row.events) as AlertEvent[],
  dataflowId: row.dataflow_id,
  delayedAfterMinutes: Number(row.delayed_after_minutes),
  skippedRateAbovePercent: Number(row.skipped_rate_above),
  createdAt: new Date(row.created_at),
});

/**
 * Subscribes an HTTP API account to run events. The account must be an HTTP API one (alerts are
 * JSON documents POSTed to it) and the dataflow, when given, must exist, each named when not.
 */
export async function createAlertSubscription(
  deps: AccountDeps,
  sandbox: string,
  input: unknown,
): Promise<AlertSubscription> {
  const parsed = parseInput(alertSubscriptionInputSchema, input, "alert subscription");
  const account = await getAccount(deps, sandbox, parsed.accountId);
  if (account.destinationId !== "http-api") {
    const message = `account '${account.name}' is a ${account.destinationId} account; alerts are sent to an HTTP API account (its URL, headers and credentials)`;
    throw validationError(`accountId: ${message}`, [{ field: "accountId", message }]);
  }
  if (parsed.dataflowId) await getDataflow(deps.store, sandbox, parsed.dataflowId);
  const id = randomUUID();
  await deps.store.query(
    sandbox,
    `INSERT INTO alert_subscriptions (id, sandbox, name, account_id, events, dataflow_id, delayed_after_minutes, skipped_rate_above, created_at)
     VALUES ($1, $sandbox, $2, $3, $4, $5, $6, $7, $8)`,
    [
      id,
      parsed.name,
      parsed.accountId,
      JSON.stringify(parsed.events),
      parsed.dataflowId ?? null,
      parsed.delayedAfterMinutes,
      parsed.skippedRateAbovePercent,
      new Date(),
    ],
  );
  return getAlertSubscription(deps.store, sandbox, id);
}

export async function listAlertSubscriptions(db: Executor, sandbox: string): Promise<AlertSubscription[]> {
  const rows = await db.query<SubscriptionRow>(
    sandbox,
    "SELECT * FROM alert_subscriptions WHERE sandbox = $sandbox ORDER BY name, id",
  );
  return rows.map(toSubscription);
}

export async function getAlertSubscription(db: Executor, sandbox: string, id: string) {
  const [row] = await db.query<SubscriptionRow>(
    sandbox,
    "SELECT * FROM alert_subscriptions WHERE sandbox = $sandbox AND id = $1",
    [id],
  );
  if (!row) throw notFound("alert subscription", id);
  return toSubscription(row);
}

/** Deletes a subscription and the record of what was sent for it. */
export async function deleteAlertSubscription(db: Executor, sandbox: string, id: string): Promise<void> {
  await getAlertSubscription(db, sandbox, id);
  await db.writeAll(sandbox, [
    { sql: "DELETE FROM alert_deliveries WHERE sandbox = $sandbox AND subscription_id = $1", params: [id] },
    { sql: "DELETE FROM alert_subscriptions WHERE sandbox = $sandbox AND id = $1", params: [id] },
  ]);
}

export interface AlertDelivery {
  subscriptionId: string;
  runId: string;
  event: AlertEvent;
  status: "sending" | "sent" | "failed";
  error: string | null;
  at: Date;
}

/** The alerts sent for a subscription, newest first: what went out, and what could not. */
export async function listAlertDeliveries(
  db: Executor,
  sandbox: string,
  subscriptionId: string,
  limit = 50,
): Promise<AlertDelivery[]> {
  const rows = await db.query<{
    subscription_id: string;
    run_id: string;
    event: AlertEvent;
    status: AlertDelivery["status"];
    error: string | null;
    updated_at: Date;
  }>(
    sandbox,
    "SELECT * FROM alert_deliveries WHERE sandbox = $sandbox AND subscription_id = $1 ORDER BY updated_at DESC, run_id LIMIT $2",
    [subscriptionId, limit],
  );
  return rows.map((r) => ({
    subscriptionId: r.subscription_id,
    runId: r.run_id,
    event: r.event,
    status: r.status,
    error: r.error,
    at: new Date(r.updated_at),
  }));
}
