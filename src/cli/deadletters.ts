import { Command } from "commander";
import { recordAudit } from "../access/index.ts";
import { validationError } from "../errors/index.ts";
import { discardDeadLetters, listDeadLetters, replayDeadLetters } from "../streaming/index.ts";
import { type GlobalOptions, newCommand, printJson, withHerald } from "./context.ts";

type SelectionOptions = GlobalOptions & { all?: boolean; dataflow?: string };

function selection(ids: string[], options: SelectionOptions) {
  const numbers = ids.map((id) => {
    const n = Number(id);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`'${id}' is not a dead letter id`);
    return n;
  });
  if (!numbers.length && !options.all && !options.dataflow) {
    throw new Error("give dead letter ids, --dataflow <id>, or --all");
  }
  return {
    ...(numbers.length ? { ids: numbers } : {}),
    ...(options.dataflow ? { dataflowId: options.dataflow } : {}),
    ...(options.all ? { all: true } : {}),
  };
}

const list = newCommand("list", "Streaming messages that ran out of attempts, oldest first")
  .option("--dataflow <id>", "only this dataflow's")
  .option("--limit <n>", "at most this many (1-10000)", "100")
  .option("--json", "print JSON")
  .action((options: SelectionOptions & { limit: string; json?: boolean }) =>
    withHerald(options, async (herald) => {
      const limit = Number(options.limit);
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000)
        throw validationError(`--limit: expected a whole number from 1 to 10000, got '${options.limit}'`, [
          { field: "--limit", message: "expected a whole number from 1 to 10000" },
        ]);
      const page = await listDeadLetters(herald.store, options.sandbox, {
        ...(options.dataflow ? { dataflowId: options.dataflow } : {}),
        limit,
      });
      if (options.json) return printJson(page);
      process.stdout.write(`${page.total} dead letter${page.total === 1 ? "" : "s"}\n`);
      for (const d of page.items) {
        process.stdout.write(
          `${String(d.id).padEnd(8)} ${d.profileId.padEnd(32)} dataflow ${d.dataflowId}  ${d.attempts} attempts, ${d.deadAt?.toISOString() ?? ""}\n    ${d.lastError ?? ""}\n`,
        );
      }
    }),
  );

function action(name: "replay" | "discard", description: string) {
  return newCommand(name, description)
    .argument("[ids...]", "dead letter ids (from `herald deadletters list`)")
    .option("--dataflow <id>", "every dead letter of this dataflow")
    .option("--all", "every dead letter of the sandbox")
    .action((ids: string[], options: SelectionOptions) =>
      withHerald(options, async (herald) => {
        const chosen = selection(ids, options);
        const result =
          name === "replay"
            ? await replayDeadLetters(herald.store, options.sandbox, chosen)
            : await discardDeadLetters(herald.store, options.sandbox, chosen);
        await recordAudit(herald.store, {
          sandbox: options.sandbox,
          actor: "cli",
          action: `deadletters.${name}`,
          resource: "deadletters",
          details: { ...chosen, ...result },
        });
        const { count, notTaken } = result;
        const verb = name === "replay" ? "queued again (sent by the running server)" : "discarded";
        process.stdout.write(`${count} dead letter${count === 1 ? "" : "s"} ${verb}\n`);
        if (notTaken.length) {
          const why =
            name === "replay"
              ? "not dead letters of this sandbox, or of a deleted dataflow"
              : "not dead letters of this sandbox";
          process.stderr.write(`left alone (${why}): ${notTaken.join(", ")}\n`);
          process.exitCode = 1;
        }
      }),
    );
}

export const deadLettersCommand = new Command("deadletters")
  .description("Streaming dead letters: list, replay, discard")
  .addCommand(list)
  .addCommand(action("replay", "Send dead letters again, with fresh attempts"))
  .addCommand(action("discard", "Delete dead letters for good"));
