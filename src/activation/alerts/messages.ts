import type { Run } from "../runs.ts";
import type { AlertEvent, AlertSubscription } from "./subscriptions.ts";

/** Who the run belongs to, by name, for the alert's words. */
export interface RunContext {
  sandbox: string;
  dataflow: { id: string; name: string };
  segment: { id: string; name: string };
}

/** Profiles received and not activated (excluded or failed), as a percentage; 0 without profiles. */
export function skippedPercent(run: Pick<Run, "received" | "activated">): number {
  return run.received > 0 ? (100 * Math.max(0, run.received - run.activated)) / run.received : 0;
}

/** The events a finished run raises for a subscription: its outcome, and a skipped rate over the bound. */
export function finishedEvents(run: Run, subscription: AlertSubscription): AlertEvent[] {
  const outcome: AlertEvent = run.status === "succeeded" ? "run.succeeded" : "run.failed";
  const events: AlertEvent[] = [outcome];
  if (skippedPercent(run) > subscription.skippedRateAbovePercent) events.push("run.skipped_rate");
  return events.filter((e) => subscription.events.includes(e));
}

const plural = (n: number, word: string) => `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;

function summary(event: AlertEvent, run: Run, subscription: AlertSubscription, now: Date): string {
  switch (event) {
    case "run.started":
      return `export started (${run.trigger})`;
    case "run.delayed":
      return `export still running after ${Math.floor((now.getTime() - run.startedAt.getTime()) / 60_000)} minutes (alert after ${subscription.delayedAfterMinutes})`;
    case "run.skipped_rate": {
      const excluded = Object.entries(run.excluded)
        .filter(([, n]) => n > 0)
        .map(([why, n]) => `${why} ${n}`);
      return `${skippedPercent(run).toFixed(1)}% of the profiles received were not activated (alert above ${subscription.skippedRateAbovePercent}%): ${[...excluded, ...(run.failed ? [`failed ${run.failed}`] : [])].join(", ")}`;
    }
    case "run.succeeded":
      return `export succeeded: ${plural(run.activated, "profile")} of ${run.received.toLocaleString("en-US")} activated in ${plural(run.files.length, "file")}`;
    case "run.failed": {
      const what = run.status === "partially_succeeded" ? "export partly failed" : "export failed";
      const delivered = run.files.length ? `; ${plural(run.files.length, "file")} delivered` : "";
      return `${what}${delivered}: ${run.errors.at(-1) ?? "no error recorded"}`;
    }
  }
}

/**
 * The JSON document an alert POSTs: `text` in words first (what Slack, Mattermost and most chat
 * webhooks display), then the event, the names and the run's figures for programs. Run errors are
 * scrubbed of secrets when recorded (src/errors/scrub.ts).
 */
export function alertDocument(
  event: AlertEvent,
  run: Run,
  context: RunContext,
  subscription: AlertSubscription,
  now: Date,
) {
  return {
    text: `Herald (${context.sandbox}): ${summary(event, run, subscription, now)} - dataflow '${context.dataflow.name}', segment '${context.segment.name}', run ${run.id}`,
    event,
    occurredAt: now.toISOString(),
    sandbox: context.sandbox,
    subscription: { id: subscription.id, name: subscription.name },
    dataflow: context.dataflow,
    segment: context.segment,
    run: {
      id: run.id,
      status: run.status,
      trigger: run.trigger,
      scheduledFor: run.scheduledFor.toISOString(),
      startedAt: run.startedAt.toISOString(),
      finishedAt: run.finishedAt?.toISOString() ?? null,
      durationMs: run.durationMs,
      received: run.received,
      activated: run.activated,
      excluded: run.excluded,
      failed: run.failed,
      skippedPercent: Number(skippedPercent(run).toFixed(2)),
      files: run.files.length,
      bytes: run.bytes,
      errors: run.errors.slice(-5),
    },
  };
}
