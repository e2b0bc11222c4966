import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { openAccountConnection, postJsonDocument } from "../../destinations/index.ts";
import { HeraldError, isRetryable } from "../../errors/index.ts";
import { scrubSecrets } from "../../errors/scrub.ts";
import { getDataflow } from "../dataflows.ts";
import type { ActivationDeps } from "../execute-run.ts";
import { getRun, type Run } from "../runs.ts";
import { alertDocument, finishedEvents, type RunContext } from "./messages.ts";
import { type AlertEvent, type AlertSubscription, listAlertSubscriptions } from "./subscriptions.ts";

export interface AlertNotifierOptions {
  logger?: Logger;
  now?: () => Date;
  /** Waits before the 2nd, 3rd, ... attempt of a transient failure (default 1 s, then 5 s). */
  retryDelaysMs?: readonly number[];
}

const describe = (error: unknown) => scrubSecrets(error instanceof Error ? error.message : String(error));

/**
 * Sends run alerts to the subscribed HTTP API accounts, in the background: an export never waits
 * for an alert nor fails because of one. Each (subscription, run, event) is claimed in the store
 * before it is sent, so it goes out once, whichever process sees the event; its outcome stays on the
 * claim (`sent`, or `failed` with the reason, also logged): an alert that could not be sent is
 * visible, not silently lost.
 */
export function createAlertNotifier(deps: ActivationDeps, options: AlertNotifierOptions = {}) {
  const now = options.now ?? (() => new Date());
  const delays = options.retryDelaysMs ?? [1000, 5000];
  const sending = new Set<Promise<void>>();

  function inBackground(work: () => Promise<void>) {
    const task: Promise<void> = work()
      .catch((error: unknown) => options.logger?.error({ err: error }, "alerts not sent"))
      .finally(() => sending.delete(task));
    sending.add(task);
  }

  async function contextOf(sandbox: string, run: Run): Promise<RunContext> {
    const dataflow = await getDataflow(deps.store, sandbox, run.dataflowId).catch(() => undefined);
    const segmentName = await deps.segments.segmentName(sandbox, run.segmentId).catch(() => run.segmentId);
    return {
      sandbox,
      dataflow: { id: run.dataflowId, name: dataflow?.name ?? run.dataflowId },
      segment: { id: run.segmentId, name: segmentName },
    };
  }

  async function subscribers(sandbox: string, run: Run): Promise<AlertSubscription[]> {
    return (await listAlertSubscriptions(deps.store, sandbox)).filter(
      (s) => s.dataflowId === null || s.dataflowId === run.dataflowId,
    );
  }

  async function post(sandbox: string, subscription: AlertSubscription, body: string): Promise<void> {
    const { definition, connection } = await openAccountConnection(deps, sandbox, subscription.accountId);
    if (definition.id !== "http-api")
      throw new HeraldError(
        "validation",
        "not_an_http_account",
        `account ${subscription.accountId} is no HTTP API account`,
      );
    await postJsonDocument(connection as never, body);
  }

  async function send(
    sandbox: string,
    subscription: AlertSubscription,
    event: AlertEvent,
    run: Run,
    context: RunContext,
  ) {
    const key = [subscription.id, run.id, event];
    const claimed = await deps.store.writeAll(sandbox, [
      {
        sql: `INSERT INTO alert_deliveries (sandbox, subscription_id, run_id, event, status, error, updated_at)
              VALUES ($sandbox, $1, $2, $3, 'sending', NULL, $4) ON CONFLICT DO NOTHING RETURNING run_id`,
        params: [...key, now()],
      },
    ]);
    if (!claimed.length) return;
    const body = JSON.stringify(alertDocument(event, run, context, subscription, now()));
    let failure: string | null = null;
    for (let attempt = 0; ; attempt++) {
      try {
        await post(sandbox, subscription, body);
        failure = null;
        break;
      } catch (error) {
        failure = describe(error);
        if (!isRetryable(error) || attempt >= delays.length) break;
        await sleep(delays[attempt]);
      }
    }
    await deps.store.query(
      sandbox,
      `UPDATE alert_deliveries SET status = $4, error = $5, updated_at = $6
       WHERE sandbox = $sandbox AND subscription_id = $1 AND run_id = $2 AND event = $3`,
      [...key, failure ? "failed" : "sent", failure, now()],
    );
    if (failure)
      options.logger?.warn(
        { sandbox, subscription: subscription.id, run: run.id, event, err: failure },
        "alert not sent",
      );
  }

  async function raise(sandbox: string, run: Run, eventsOf: (s: AlertSubscription) => AlertEvent[]) {
    const wanted = (await subscribers(sandbox, run)).flatMap((s) => eventsOf(s).map((e) => [s, e] as const));
    if (!wanted.length) return;
    const context = await contextOf(sandbox, run);
    await Promise.all(wanted.map(([s, e]) => send(sandbox, s, e, run, context)));
  }

  return {
    /** A run has started. */
    started(sandbox: string, run: Run): void {
      inBackground(() =>
        raise(sandbox, run, (s) => (s.events.includes("run.started") ? ["run.started"] : [])),
      );
    },
    /** A run has ended (its final record): its outcome, and its skipped rate when over a bound. */
    finished(sandbox: string, run: Run): void {
      inBackground(() => raise(sandbox, run, (s) => finishedEvents(run, s)));
    },
    /** Runs a stopped process left behind, failed since: alerted as failed. */
    abandoned(sandbox: string, runIds: readonly string[]): void {
      for (const id of runIds)
        inBackground(async () => {
          const run = await getRun(deps.store, sandbox, id);
          await raise(sandbox, run, (s) => finishedEvents(run, s));
        });
    },
    /** Runs still going after a subscription's delay (checked by the scheduler's tick). */
    async delayed(sandbox: string): Promise<void> {
      const subscriptions = (await listAlertSubscriptions(deps.store, sandbox)).filter((s) =>
        s.events.includes("run.delayed"),
      );
      if (!subscriptions.length) return;
      const shortest = Math.min(...subscriptions.map((s) => s.delayedAfterMinutes));
      const since = new Date(now().getTime() - shortest * 60_000);
      const ids = await deps.store.query<{ id: string }>(
        sandbox,
        "SELECT id FROM runs WHERE sandbox = $sandbox AND status IN ('queued', 'running') AND started_at <= $1 ORDER BY id",
        [since],
      );
      for (const { id } of ids) {
        const run = await getRun(deps.store, sandbox, id);
        const minutes = (now().getTime() - run.startedAt.getTime()) / 60_000;
        inBackground(() =>
          raise(sandbox, run, (s) =>
            s.events.includes("run.delayed") && minutes >= s.delayedAfterMinutes ? ["run.delayed"] : [],
          ),
        );
      }
    },
    /** Resolves once every alert under way has been sent or given up. */
    async idle(): Promise<void> {
      while (sending.size) await Promise.allSettled([...sending]);
    },
  };
}

export type AlertNotifier = ReturnType<typeof createAlertNotifier>;
