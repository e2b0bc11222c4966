import fs from "node:fs";
import { Command } from "commander";
import { recordAudit } from "../access/index.ts";
import {
  createDataflow,
  deleteDataflow,
  getDataflow,
  getRun,
  listDataflows,
  listRuns,
  type Run,
  type RunStatus,
  setDataflowStatus,
} from "../activation/index.ts";
import type { Herald } from "../api/index.ts";
import { type GlobalOptions, newCommand, printJson, withHerald } from "./context.ts";
import { progressReporter } from "./progress.ts";

function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const createDataflowCommand = newCommand(
  "create",
  "Create a dataflow from a JSON definition (see docs/activation.md)",
)
  .requiredOption("--file <path>", "the dataflow as JSON")
  .action(async (options: GlobalOptions & { file: string }) => {
    return withHerald(options, async (herald) => {
      const dataflow = await createDataflow(herald, options.sandbox, readJsonFile(options.file));
      await recordAudit(herald.store, {
        sandbox: options.sandbox,
        actor: "cli",
        action: "create",
        resource: "dataflow",
        resourceId: dataflow.id,
        details: { name: dataflow.name },
      });
      process.stdout.write(`created dataflow ${dataflow.id} (${dataflow.name}), ${dataflow.status}\n`);
    });
  });

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
  .argument("<dataflow>", "dataflow id")
  .action((id: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => printJson(await getDataflow(herald.store, options.sandbox, id))),
  );

/** pause, resume and activate only change the status; each is audited. */
const statusCommand = (name: "pause" | "resume" | "activate", status: "disabled" | "enabled", text: string) =>
  newCommand(name, text)
    .argument("<dataflow>", "dataflow id")
    .action((id: string, options: GlobalOptions) =>
      withHerald(options, async (herald) => {
        await setDataflowStatus(herald.store, options.sandbox, id, status);
        await recordAudit(herald.store, {
          sandbox: options.sandbox,
          actor: "cli",
          action: name,
          resource: "dataflow",
          resourceId: id,
          details: { status },
        });
        process.stdout.write(`dataflow ${id}: ${status}\n`);
      }),
    );

const deleteDataflowCommand = newCommand("delete", "Delete a dataflow (its run history stays)")
  .argument("<dataflow>", "dataflow id")
  .action((id: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      await deleteDataflow(herald.store, options.sandbox, id);
      await recordAudit(herald.store, {
        sandbox: options.sandbox,
        actor: "cli",
        action: "delete",
        resource: "dataflow",
        resourceId: id,
        details: {},
      });
      process.stdout.write(`deleted dataflow ${id}\n`);
    }),
  );

export const dataflowsCommand = new Command("dataflows")
  .description("Activations of audiences to destinations")
  .addCommand(createDataflowCommand)
  .addCommand(listDataflowsCommand)
  .addCommand(showDataflowCommand)
  .addCommand(statusCommand("activate", "enabled", "Activate a draft dataflow: its schedule starts"))
  .addCommand(statusCommand("pause", "disabled", "Pause a dataflow: no scheduled exports until resumed"))
  .addCommand(statusCommand("resume", "enabled", "Resume a paused dataflow"))
  .addCommand(deleteDataflowCommand);

function printRun(run: Run) {
  process.stdout.write(
    `${run.id}  ${run.status.padEnd(10)} ${run.trigger.padEnd(9)} ${run.startedAt.toISOString()}  received ${run.received}, activated ${run.activated}, excluded ${JSON.stringify(run.excluded)}, ${run.files.length} files, ${run.bytes} bytes${run.durationMs !== null ? `, ${(run.durationMs / 1000).toFixed(1)} s` : ""}\n`,
  );
  for (const f of run.files)
    process.stdout.write(`    ${f.location}  ${f.rows} rows  ${f.bytes} bytes  sha256 ${f.sha256}\n`);
  for (const e of run.errors) process.stdout.write(`    error: ${e}\n`);
}

/** Shows a progress bar until the runs end, prints them, and fails the command if one failed. */
async function follow(herald: Herald, sandbox: string, runs: Run[]) {
  const progress = progressReporter("exporting");
  const poll = setInterval(async () => {
    const current = await Promise.all(runs.map((r) => getRun(herald.store, sandbox, r.id)));
    progress.update(current.reduce((sum, r) => sum + r.progressRows, 0));
  }, 500);
  await herald.activation.idle();
  clearInterval(poll);
  progress.stop();
  let failed = false;
  for (const r of runs) {
    const done = await getRun(herald.store, sandbox, r.id);
    printRun(done);
    failed ||= done.status === "failed";
  }
  if (failed) process.exitCode = 1;
}

const trigger = newCommand(
  "trigger",
  "Export now: one extra export of the dataflow's segments, with a progress bar",
)
  .argument("<dataflow>", "dataflow id")
  .option("--segment <id>", "only this segment")
  .action((dataflowId: string, options: GlobalOptions & { segment?: string }) =>
    withHerald(options, async (herald) => {
      const runs = await herald.activation.triggerNow(options.sandbox, dataflowId, options.segment);
      await follow(herald, options.sandbox, runs);
    }),
  );

const rerun = newCommand("rerun", "Run a past run again for its scheduled time (same file names)")
  .argument("<run>", "run id")
  .action((runId: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      await follow(herald, options.sandbox, [await herald.activation.rerun(options.sandbox, runId)]);
    }),
  );

const list = newCommand("list", "Run history, newest first")
  .option("--dataflow <id>", "only this dataflow")
  .option("--status <status>", "queued, running, succeeded, partially_succeeded or failed")
  .option("--since <time>", "runs started at or after this ISO time")
  .option("--limit <n>", "how many", "20")
  .option("--json", "print JSON")
  .action(
    async (
      options: GlobalOptions & { dataflow?: string; status?: string; since?: string; limit: string },
    ) => {
      return withHerald(options, async (herald) => {
        const runs = await listRuns(herald.store, options.sandbox, {
          ...(options.dataflow ? { dataflowId: options.dataflow } : {}),
          ...(options.status ? { status: options.status as RunStatus } : {}),
          ...(options.since ? { since: new Date(options.since) } : {}),
          limit: Number(options.limit),
        });
        if (options.json) return printJson(runs);
        for (const run of runs) printRun(run);
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
