import { Command } from "commander";
import { recordAudit } from "../access/index.ts";
import {
  type AlertSubscription,
  createAlertSubscription,
  deleteAlertSubscription,
  getAlertSubscription,
  listAlertDeliveries,
  listAlertSubscriptions,
} from "../activation/alerts/index.ts";
import { type GlobalOptions, newCommand, printJson, withHerald } from "./context.ts";
import { resolveDataflowId } from "./dataflow-names.ts";

const describeSubscription = (s: AlertSubscription) =>
  `${s.id}  ${s.name}: ${s.events.join(", ")} to account ${s.accountId}${s.dataflowId ? ` (dataflow ${s.dataflowId})` : " (every dataflow)"}; delayed after ${s.delayedAfterMinutes} min, skipped rate above ${s.skippedRateAbovePercent}%\n`;

const repeat = (value: string, previous: string[] = []) => [...previous, value];

/** A number option, or the flag named in the error. */
function numberOption(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${flag}: expected a number, got '${value}'`);
  return n;
}

const list = newCommand("list", "Alert subscriptions: which run events go to which HTTP API account")
  .option("--json", "print JSON")
  .action((options: GlobalOptions & { json?: boolean }) =>
    withHerald(options, async (herald) => {
      const subscriptions = await listAlertSubscriptions(herald.store, options.sandbox);
      if (options.json) return printJson(subscriptions);
      for (const s of subscriptions) process.stdout.write(describeSubscription(s));
    }),
  );

const create = newCommand(
  "create",
  "Send run events of file exports to an HTTP API account (a chat webhook, an on-call tool)",
)
  .requiredOption("--name <name>", "a name for the subscription")
  .requiredOption("--account <id>", "the HTTP API account alerts are POSTed to")
  .requiredOption(
    "--event <event>",
    "run.started, run.succeeded, run.failed, run.delayed or run.skipped_rate (repeat)",
    repeat,
  )
  .option("--dataflow <id or name>", "only this dataflow's runs (every dataflow's by default)")
  .option("--delayed-after-minutes <n>", "run.delayed: a run still going after this many minutes (150)")
  .option("--skipped-rate-above <percent>", "run.skipped_rate: profiles not activated above this share (1)")
  .action(
    (
      options: GlobalOptions & {
        name: string;
        account: string;
        event: string[];
        dataflow?: string;
        delayedAfterMinutes?: string;
        skippedRateAbove?: string;
      },
    ) =>
      withHerald(options, async (herald) => {
        const delayed = numberOption("--delayed-after-minutes", options.delayedAfterMinutes);
        const skipped = numberOption("--skipped-rate-above", options.skippedRateAbove);
        const subscription = await createAlertSubscription(herald, options.sandbox, {
          name: options.name,
          accountId: options.account,
          events: options.event,
          ...(options.dataflow
            ? { dataflowId: await resolveDataflowId(herald.store, options.sandbox, options.dataflow) }
            : {}),
          ...(delayed !== undefined ? { delayedAfterMinutes: delayed } : {}),
          ...(skipped !== undefined ? { skippedRateAbovePercent: skipped } : {}),
        });
        await recordAudit(herald.store, {
          sandbox: options.sandbox,
          actor: "cli",
          action: "create",
          resource: "alert",
          resourceId: subscription.id,
          details: { name: subscription.name, events: subscription.events },
        });
        process.stdout.write(describeSubscription(subscription));
      }),
  );

const show = newCommand("show", "A subscription and its latest alerts: sent, or failed with the reason")
  .argument("<id>")
  .option("--json", "print JSON")
  .action((id: string, options: GlobalOptions & { json?: boolean }) =>
    withHerald(options, async (herald) => {
      const subscription = await getAlertSubscription(herald.store, options.sandbox, id);
      const deliveries = await listAlertDeliveries(herald.store, options.sandbox, id);
      if (options.json) return printJson({ ...subscription, deliveries });
      process.stdout.write(describeSubscription(subscription));
      for (const d of deliveries)
        process.stdout.write(
          `  ${d.at.toISOString()}  ${d.event.padEnd(16)} run ${d.runId}  ${d.status}${d.error ? `: ${d.error}` : ""}\n`,
        );
    }),
  );

const remove = newCommand("delete", "Delete an alert subscription")
  .argument("<id>")
  .action((id: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      await deleteAlertSubscription(herald.store, options.sandbox, id);
      await recordAudit(herald.store, {
        sandbox: options.sandbox,
        actor: "cli",
        action: "delete",
        resource: "alert",
        resourceId: id,
        details: {},
      });
      process.stdout.write(`deleted alert subscription ${id}\n`);
    }),
  );

export const alertsCommand = new Command("alerts")
  .description("Alerts on file exports' runs, POSTed as JSON to an HTTP API account")
  .addCommand(list)
  .addCommand(create)
  .addCommand(show)
  .addCommand(remove);
