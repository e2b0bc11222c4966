import fs from "node:fs";
import { Command } from "commander";
import { recordAudit } from "../access/index.ts";
import {
  createDataflow,
  dataflowViolations,
  deleteDataflow,
  getDataflow,
  getRun,
  listDataflows,
  listRuns,
  parseRunFilter,
  type Run,
  runStatuses,
  runsStartedBefore,
  setDataflowStatus,
  updateDataflow,
} from "../activation/index.ts";
import type { Herald } from "../api/index.ts";
import { type GlobalOptions, newCommand, printJson, withHerald } from "./context.ts";
import { dataflowNames, resolveDataflowId } from "./dataflow-names.ts";
import { printViolations } from "./governance.ts";
import { progressReporter } from "./progress.ts";

function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The CLI's changes to dataflows are audited as the API's are, with the actor "cli". */
function auditDataflow(
  herald: Herald,
  sandbox: string,
  action: string,
  id: string,
  details: Record<string, unknown> = {},
) {
  return recordAudit(herald.store, {
    sandbox,
    actor: "cli",
    action,
    resource: "dataflow",
    resourceId: id,
    details,
  });
}

const createDataflowCommand = newCommand(
  "create",
  "Create a dataflow from a JSON definition (see docs/activation.md)",
)
  .requiredOption("--file <path>", "the dataflow as JSON")
  .action(async (options: GlobalOptions & { file: string }) => {
    return withHerald(options, async (herald) => {
      const input = readJsonFile(options.file);
      const dataflow = await createDataflow(herald, options.sandbox, input);
      // An account connected on the way (the definition's `account`) is audited as its own creation.
      if (input && typeof input === "object" && "account" in input) {
        await recordAudit(herald.store, {
          sandbox: options.sandbox,
          actor: "cli",
          action: "create",
          resource: "account",
          resourceId: dataflow.accountId,
          details: { destination: dataflow.destinationId },
        });
      }
      await auditDataflow(herald, options.sandbox, "create", dataflow.id, { name: dataflow.name });
      process.stdout.write(`created dataflow ${dataflow.id} (${dataflow.name}), ${dataflow.status}\n`);
      printViolations(dataflow.policyViolations, process.stderr);
    });
  });

const updateDataflowCommand = newCommand(
  "update",
  "Replace a dataflow's definition from a JSON file (as create takes it); from its next run on. Its status stays unless the file sets one",
)
  .argument("<dataflow>", "dataflow id")
  .requiredOption("--file <path>", "the dataflow as JSON")
  .action((id: string, options: GlobalOptions & { file: string }) =>
    withHerald(options, async (herald) => {
      const dataflow = await updateDataflow(herald, options.sandbox, id, readJsonFile(options.file));
      await auditDataflow(herald, options.sandbox, "update", dataflow.id, {
        name: dataflow.name,
        status: dataflow.status,
      });
      process.stdout.write(`updated dataflow ${dataflow.id} (${dataflow.name}), ${dataflow.status}\n`);
      printViolations(dataflow.policyViolations, process.stderr);
    }),
  );

/** Dataflows are named on the command line by id or, when no other has it, by their exact name. */
const DATAFLOW_ARGUMENT = "dataflow id, or its exact name";

const listDataflowsCommand = newCommand("list", "Dataflows with their status")
  .option("--json", "print JSON")
  .action(async (options: GlobalOptions) => {
    return withHerald(options, async (herald) => {
      const dataflows = await listDataflows(herald.store, options.sandbox);
      if (options.json) return printJson(dataflows);
      for (const d of dataflows)
        process.stdout.write(`${d.id}  ${d.status.padEnd(9)} ${d.destinationId.padEnd(16)} ${d.name}\n`);
    });
  });

const showDataflowCommand = newCommand("show", "One dataflow with its segments, schedules and mapping")
  .argument("<dataflow>", DATAFLOW_ARGUMENT)
  .action((given: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      const id = await resolveDataflowId(herald.store, options.sandbox, given);
      printJson(await getDataflow(herald.store, options.sandbox, id));
    }),
  );

/** pause, resume and activate only change the status; each is audited. */
const statusCommand = (name: "pause" | "resume" | "activate", status: "disabled" | "enabled", text: string) =>
  newCommand(name, text)
    .argument("<dataflow>", DATAFLOW_ARGUMENT)
    .action((given: string, options: GlobalOptions) =>
      withHerald(options, async (herald) => {
        const id = await resolveDataflowId(herald.store, options.sandbox, given);
        await setDataflowStatus(herald.store, options.sandbox, id, status, new Date(), herald.catalog);
        await auditDataflow(herald, options.sandbox, name, id, { status });
        process.stdout.write(`dataflow ${id}: ${status}\n`);
      }),
    );

const checkDataflowCommand = newCommand(
  "check",
  "The enabled data-usage policies a dataflow violates now, with where each label comes from and what would resolve it; exits 3 when it violates one",
)
  .argument("<dataflow>", DATAFLOW_ARGUMENT)
  .action((given: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      const id = await resolveDataflowId(herald.store, options.sandbox, given);
      const dataflow = await getDataflow(herald.store, options.sandbox, id);
      const violations = await dataflowViolations(herald, options.sandbox, dataflow);
      if (!violations.length)
        process.stdout.write(`dataflow '${dataflow.name}' violates no enabled policy\n`);
      printViolations(violations);
      if (violations.length) process.exitCode = 3;
    }),
  );

const deleteDataflowCommand = newCommand("delete", "Delete a dataflow (its run history stays)")
  .argument("<dataflow>", DATAFLOW_ARGUMENT)
  .action((given: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      const id = await resolveDataflowId(herald.store, options.sandbox, given);
      await deleteDataflow(herald.store, options.sandbox, id);
      await auditDataflow(herald, options.sandbox, "delete", id);
      process.stdout.write(`deleted dataflow ${id}\n`);
    }),
  );

export const dataflowsCommand = new Command("dataflows")
  .description("Activations of audiences to destinations")
  .addCommand(createDataflowCommand)
  .addCommand(updateDataflowCommand)
  .addCommand(listDataflowsCommand)
  .addCommand(showDataflowCommand)
  .addCommand(statusCommand("activate", "enabled", "Activate a draft dataflow: its schedule starts"))
  .addCommand(statusCommand("pause", "disabled", "Pause a dataflow: no scheduled exports until resumed"))
  .addCommand(statusCommand("resume", "enabled", "Resume a paused dataflow"))
  .addCommand(checkDataflowCommand)
  .addCommand(deleteDataflowCommand);

/** A run's exclusions in words, `3 missing mandatory, 1 duplicate`; empty when none. */
export function exclusionsInWords(excluded: Record<string, number>): string {
  return Object.entries(excluded)
    .filter(([, count]) => count > 0)
    .map(([reason, count]) => `${count} ${reason.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)}`)
    .join(", ");
}

/** A run on one line (which dataflow and segment, its counts), then its files and errors. */
function printRun(run: Run, names: ReadonlyMap<string, string>) {
  const dataflow = names.get(run.dataflowId) ?? `dataflow ${run.dataflowId} (deleted)`;
  const excluded = exclusionsInWords(run.excluded);
  process.stdout.write(
    `${run.id}  ${run.status.padEnd(10)} ${run.trigger.padEnd(9)} ${run.startedAt.toISOString()}  ${dataflow}, segment ${run.segmentId}: received ${run.received}, activated ${run.activated}${excluded ? `, excluded ${excluded}` : ""}, ${run.files.length} files, ${run.bytes} bytes${run.durationMs !== null ? `, ${(run.durationMs / 1000).toFixed(1)} s` : ""}\n`,
  );
  for (const f of run.files)
    process.stdout.write(`    ${f.location}  ${f.rows} rows  ${f.bytes} bytes  sha256 ${f.sha256}\n`);
  // A succeeded run's errors are the attempts it retried after.
  const label = run.status === "succeeded" ? "retried after" : "error";
  for (const e of run.errors) process.stdout.write(`    ${label}: ${e}\n`);
}

/** Shows a progress bar until the runs end, prints them, and fails the command if one failed. */
async function follow(herald: Herald, sandbox: string, runs: Run[]) {
  const progress = progressReporter("exporting");
  // Ctrl-C ends the runs failed, naming why, instead of leaving them "running" until a server's
  // scheduler finds them abandoned; a second Ctrl-C stops at once.
  const interrupt = () => {
    process.stderr.write("\ncancelling the export (Ctrl-C again to stop at once)...\n");
    herald.activation.cancel("cancelled: the herald command was interrupted (Ctrl-C)");
    process.once("SIGINT", () => process.exit(130));
  };
  process.once("SIGINT", interrupt);
  const poll = setInterval(async () => {
    const current = await Promise.all(runs.map((r) => getRun(herald.store, sandbox, r.id)));
    // The total once every run has counted its audience (a bound when exclusions are counted later).
    const expected = current.every((r) => r.expectedRows !== null)
      ? current.reduce((sum, r) => sum + (r.expectedRows ?? 0), 0)
      : undefined;
    progress.update(
      current.reduce((sum, r) => sum + r.progressRows, 0),
      expected,
    );
  }, 500);
  await herald.activation.idle();
  process.removeListener("SIGINT", interrupt);
  clearInterval(poll);
  progress.stop();
  let failed = false;
  const names = await dataflowNames(herald.store, sandbox);
  for (const r of runs) {
    const done = await getRun(herald.store, sandbox, r.id);
    printRun(done, names);
    failed ||= done.status !== "succeeded";
  }
  if (failed) process.exitCode = 1;
}

const trigger = newCommand(
  "trigger",
  "Export now: one extra export of the dataflow's segments, with a progress bar",
)
  .argument("<dataflow>", DATAFLOW_ARGUMENT)
  .option("--segment <id>", "only this segment")
  .action((given: string, options: GlobalOptions & { segment?: string }) =>
    withHerald(options, async (herald) => {
      const dataflowId = await resolveDataflowId(herald.store, options.sandbox, given);
      const audit = (runs: readonly Run[]) =>
        auditDataflow(herald, options.sandbox, "trigger", dataflowId, { runs: runs.map((r) => r.id) });
      let runs: Run[];
      try {
        runs = await herald.activation.triggerNow(options.sandbox, dataflowId, options.segment);
      } catch (error) {
        const started = runsStartedBefore(error);
        if (started.length) await audit(started);
        throw error;
      }
      await audit(runs);
      await follow(herald, options.sandbox, runs);
    }),
  );

const rerun = newCommand("rerun", "Run a past run again for its scheduled time (same file names)")
  .argument("<run>", "run id")
  .action((runId: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      const run = await herald.activation.rerun(options.sandbox, runId);
      await recordAudit(herald.store, {
        sandbox: options.sandbox,
        actor: "cli",
        action: "rerun",
        resource: "run",
        resourceId: runId,
        details: { run: run.id },
      });
      await follow(herald, options.sandbox, [run]);
    }),
  );

/** The CLI's option for a filter the run history's parser names (`since` → `--since`). */
const optionOf = (path: readonly PropertyKey[]) =>
  `--${String(path[0] ?? "").replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

const list = newCommand("list", "Run history, newest first")
  .option("--dataflow <dataflow>", "only this dataflow (its id, or its exact name)")
  .option("--status <status>", runStatuses.join(", "))
  .option(
    "--since <time>",
    "runs started at or after this ISO time or day (2026-11-27T08:00:00Z, 2026-11-27)",
  )
  .option("--until <time>", "runs started before this ISO time or day")
  .option("--limit <n>", "how many", "20")
  .option("--json", "print JSON")
  .action(
    async (
      options: GlobalOptions & {
        dataflow?: string;
        status?: string;
        since?: string;
        until?: string;
        limit: string;
      },
    ) => {
      const { dataflow, status, since, until, limit } = options;
      // Checked before opening the store: a typo costs nothing.
      const filter = parseRunFilter({ dataflowId: dataflow, status, since, until, limit }, (path) =>
        path[0] === "dataflowId" ? "--dataflow" : optionOf(path),
      );
      return withHerald(options, async (herald) => {
        const dataflowId =
          filter.dataflowId && (await resolveDataflowId(herald.store, options.sandbox, filter.dataflowId));
        const runs = await listRuns(herald.store, options.sandbox, { ...filter, dataflowId });
        if (options.json) return printJson(runs);
        const names = await dataflowNames(herald.store, options.sandbox);
        for (const run of runs) printRun(run, names);
      });
    },
  );

const show = newCommand("show", "One run in detail")
  .argument("<run>", "run id")
  .action(async (runId: string, options: GlobalOptions) => {
    return withHerald(options, async (herald) => {
      printJson(await getRun(herald.store, options.sandbox, runId));
    });
  });

export const runsCommand = new Command("runs")
  .description("Exports: trigger, history, detail")
  .addCommand(trigger)
  .addCommand(rerun)
  .addCommand(list)
  .addCommand(show);
