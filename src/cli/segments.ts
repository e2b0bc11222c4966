import fs from "node:fs";
import { Command } from "commander";
import { recordAudit } from "../access/index.ts";
import { updateSegmentGoverned } from "../governance/index.ts";
import { loadSchema } from "../schema/index.ts";
import {
  createSegment,
  deleteSegment,
  estimateSegment,
  evaluateAndNotify,
  getStoredSegment,
  isInvalidSegment,
  listMembers,
  listStoredSegments,
  type MembershipStatus,
  parseDefinition,
  type SegmentAst,
  type StoredSegment,
  segmentHistory,
  segmentsToEvaluate,
} from "../segments/index.ts";
import { type GlobalOptions, newCommand, printJson, withHerald } from "./context.ts";
import { exportMembers } from "./member-export.ts";

type Json = GlobalOptions & { json?: boolean };

type DefinitionOptions = { definition?: string; file?: string };

/** A definition from --definition, or from --file (text, or a .json AST); none when neither is given. */
function givenDefinition(
  options: DefinitionOptions,
): { definition: string } | { ast: SegmentAst } | undefined {
  if (options.definition && options.file) throw new Error("give --definition or --file, not both");
  if (options.definition) return { definition: options.definition };
  if (!options.file) return undefined;
  const text = fs.readFileSync(options.file, "utf8");
  // Validated on save, as the API's body is.
  if (options.file.endsWith(".json")) return { ast: JSON.parse(text) as SegmentAst };
  return { definition: text };
}

function definitionFrom(options: DefinitionOptions): { definition: string } | { ast: SegmentAst } {
  const given = givenDefinition(options);
  if (!given) throw new Error("give the segment with --definition '<rule>' or --file <path>");
  return given;
}

/** Warnings go to stderr, one a line: the segment was saved (or estimated) all the same. */
function printWarnings(warnings: readonly string[]) {
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
}

function printSegment(s: StoredSegment) {
  if (isInvalidSegment(s)) {
    process.stdout.write(`${s.id.padEnd(24)} ${s.name}  (INVALID: ${s.invalid})\n    ${s.definition}\n`);
    return;
  }
  const streaming = s.streaming.eligible ? "streaming" : "batch only";
  const evaluated = s.lastEvaluatedAt ? `evaluated ${s.lastEvaluatedAt.toISOString()}` : "never evaluated";
  process.stdout.write(`${s.id.padEnd(24)} ${s.name}  (${streaming}, ${evaluated})\n    ${s.definition}\n`);
}

const list = newCommand("list", "Segments with their definitions")
  .option("--json", "print JSON")
  .action((options: Json) =>
    withHerald(options, async (herald) => {
      const segments = await listStoredSegments(herald.store, options.sandbox);
      if (options.json) return printJson(segments);
      for (const s of segments) printSegment(s);
    }),
  );

const create = newCommand("create", "Create a segment (validated against the schema on save)")
  .requiredOption("--name <name>", "segment name")
  .option("--id <id>", "stable id (default: derived from the name)")
  .option("--description <text>", "description")
  .option("--definition <rule>", "the rule, e.g. 'age(person.birthDate) > 50 and person.gender = \"male\"'")
  .option("--file <path>", "a file with the rule in the text language, or a .json AST")
  .action(
    (
      options: GlobalOptions & {
        name: string;
        id?: string;
        description?: string;
        definition?: string;
        file?: string;
      },
    ) =>
      withHerald(options, async (herald) => {
        const segment = await createSegment(herald.store, options.sandbox, {
          name: options.name,
          ...(options.id ? { id: options.id } : {}),
          ...(options.description ? { description: options.description } : {}),
          ...definitionFrom(options),
        });
        await recordAudit(herald.store, {
          sandbox: options.sandbox,
          actor: "cli",
          action: "create",
          resource: "segment",
          resourceId: segment.id,
          details: { name: segment.name },
        });
        printSegment(segment);
        printWarnings(segment.warnings);
      }),
  );

const update = newCommand("update", "Change a segment's name, description or definition (validated on save)")
  .argument("<id>", "segment id")
  .option("--name <name>", "new name")
  .option("--description <text>", "new description")
  .option("--definition <rule>", "new rule in the text language")
  .option("--file <path>", "a file with the new rule in the text language, or a .json AST")
  .action(
    (id: string, options: GlobalOptions & { name?: string; description?: string } & DefinitionOptions) =>
      withHerald(options, async (herald) => {
        const patch = {
          ...(options.name !== undefined ? { name: options.name } : {}),
          ...(options.description !== undefined ? { description: options.description } : {}),
          ...givenDefinition(options),
        };
        if (!Object.keys(patch).length) throw new Error("give --name, --description, --definition or --file");
        const segment = await updateSegmentGoverned(
          herald.store,
          options.sandbox,
          id,
          patch,
          herald.activeDataflows,
        );
        await recordAudit(herald.store, {
          sandbox: options.sandbox,
          actor: "cli",
          action: "update",
          resource: "segment",
          resourceId: segment.id,
          details: { name: segment.name },
        });
        printSegment(segment);
        printWarnings(segment.warnings);
      }),
  );

const show = newCommand("show", "One segment")
  .argument("<id>", "segment id")
  .action((id: string, options: GlobalOptions) =>
    withHerald(options, async (herald) =>
      printJson(await getStoredSegment(herald.store, options.sandbox, id)),
    ),
  );

const evaluate = newCommand("evaluate", "Evaluate segments now and write their memberships")
  .argument("[ids...]", "segment ids (default: every segment)")
  .option("--json", "print JSON")
  .action((ids: string[], options: Json) =>
    withHerald(options, async (herald) => {
      let targets = ids;
      if (!targets.length) {
        const all = await segmentsToEvaluate(herald.store, options.sandbox);
        for (const s of all.invalid)
          process.stderr.write(
            `warning: segment ${s.id} skipped: its definition is invalid (${s.invalid})\n`,
          );
        targets = all.ids;
      }
      const evaluations = await evaluateAndNotify(herald.store, options.sandbox, targets, {
        keys: herald.keys,
        onEvaluated: (id) => herald.activation.onSegmentEvaluated(options.sandbox, id),
        onError: (error, id) =>
          process.stderr.write(`warning: export after evaluating ${id} did not start: ${String(error)}\n`),
      });
      await herald.activation.idle();
      if (options.json) return printJson(evaluations);
      for (const e of evaluations)
        process.stdout.write(
          `${e.segmentId.padEnd(24)} ${e.size} members: ${e.realized} realized, ${e.existing} existing, ${e.exited} exited (${e.durationMs} ms)\n`,
        );
    }),
  );

const estimate = newCommand("estimate", "Estimate a draft segment's size without saving it")
  .argument("<rule>", "the rule in the text language")
  .option("--at <time>", "evaluate as of this ISO time (windows such as 'within last 30 days' end there)")
  .action((rule: string, options: GlobalOptions & { at?: string }) =>
    withHerald(options, async (herald) => {
      const at = options.at ? new Date(options.at) : undefined;
      if (at && Number.isNaN(at.getTime())) throw new Error(`--at: '${options.at}' is not an ISO time`);
      const schema = await loadSchema(herald.store, options.sandbox);
      const ast = parseDefinition(rule, schema);
      const e = await estimateSegment(herald.store, options.sandbox, schema, ast, at ? { now: at } : {});
      const range = e.sampled
        ? ` (95% interval ${e.low}-${e.high}, sampled ${(e.sampleFraction * 100).toFixed(1)}%)`
        : "";
      process.stdout.write(
        `${e.estimate} of ${e.totalProfiles} profiles${range}, ${Math.round(e.durationMs)} ms\n`,
      );
      printWarnings(e.warnings);
    }),
  );

/** A number option's value; text that is not one is refused naming the flag (the range is the part's). */
function numberOption(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || Number.isNaN(n)) throw new Error(`${flag}: not a number ('${value}')`);
  return n;
}

type MembersOptions = Json & { limit: string; offset: string; status?: string; all?: boolean; out?: string };

const members = newCommand("members", "A page of a segment's members, or all of them as CSV (--all)")
  .argument("<id>", "segment id")
  .option("--limit <n>", "page size", "100")
  .option("--offset <n>", "skip this many", "0")
  .option("--status <list>", "comma-separated: realized, existing, exited")
  .option("--json", "print JSON")
  .option("--all", "every member as CSV (profile_id,status,changed_at), page after page")
  .option("--out <file>", "with --all: write the CSV to this file (default: stdout), with progress on stderr")
  .addHelpText("after", "\n--all does not take --limit, --offset or --json.")
  .action((id: string, options: MembersOptions, command: Command) => {
    const statuses = options.status ? { statuses: options.status.split(",") as MembershipStatus[] } : {};
    if (options.out && !options.all) throw new Error("--out goes with --all");
    if (options.all) {
      const given = ["limit", "offset", "json"].filter((o) => command.getOptionValueSource(o) === "cli");
      if (given.length) throw new Error(`--all exports every member: drop --${given.join(", --")}`);
      return withHerald(options, async (herald) => {
        await getStoredSegment(herald.store, options.sandbox, id);
        await exportMembers(herald.store, options.sandbox, id, statuses, options.out);
      });
    }
    const limit = numberOption("--limit", options.limit);
    const offset = numberOption("--offset", options.offset);
    return withHerald(options, async (herald) => {
      await getStoredSegment(herald.store, options.sandbox, id);
      const page = await listMembers(herald.store, options.sandbox, id, { limit, offset, ...statuses });
      if (options.json) return printJson(page);
      for (const m of page.members)
        process.stdout.write(`${m.profileId}  ${m.status.padEnd(8)} ${m.changedAt.toISOString()}\n`);
      process.stdout.write(`${page.offset + page.members.length} of ${page.total}\n`);
    });
  });

const history = newCommand("history", "A segment's evaluations, newest first")
  .argument("<id>", "segment id")
  .option("--json", "print JSON")
  .action((id: string, options: Json) =>
    withHerald(options, async (herald) => {
      await getStoredSegment(herald.store, options.sandbox, id);
      const items = await segmentHistory(herald.store, options.sandbox, id);
      if (options.json) return printJson(items);
      for (const e of items)
        process.stdout.write(
          `${e.evaluatedAt.toISOString()}  size ${e.size}, realized ${e.realized}, existing ${e.existing}, exited ${e.exited}\n`,
        );
    }),
  );

const remove = newCommand(
  "delete",
  "Delete a segment (refused while another references it or a dataflow exports it)",
)
  .argument("<id>", "segment id")
  .action((id: string, options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      await deleteSegment(herald.store, options.sandbox, id, (segmentId) =>
        herald.segmentUsers ? herald.segmentUsers(options.sandbox, segmentId) : Promise.resolve([]),
      );
      await recordAudit(herald.store, {
        sandbox: options.sandbox,
        actor: "cli",
        action: "delete",
        resource: "segment",
        resourceId: id,
        details: {},
      });
      process.stdout.write(`deleted segment ${id}\n`);
    }),
  );

export const segmentsCommand = new Command("segments")
  .description("Segments: define, evaluate, estimate, members, history")
  .addCommand(list)
  .addCommand(create)
  .addCommand(update)
  .addCommand(show)
  .addCommand(evaluate)
  .addCommand(estimate)
  .addCommand(members)
  .addCommand(history)
  .addCommand(remove);
