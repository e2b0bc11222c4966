import { recordAudit } from "../access/index.ts";
import { openHerald } from "../api/index.ts";
import { type FileFormat, type FileIngestReport, ingestFile } from "../profiles/files/index.ts";
import { loadSchema } from "../schema/index.ts";
import { configFrom, type GlobalOptions, newCommand, printJson } from "./context.ts";
import { progressReporter } from "./progress.ts";

const SHOWN_ISSUES = 20;
const FORMATS: readonly FileFormat[] = ["csv", "jsonl", "parquet"];

/** `--format`'s value, refused naming the flag and the valid values. */
function fileFormat(format: string | undefined): FileFormat | undefined {
  if (format === undefined) return undefined;
  const known = FORMATS.find((f) => f === format);
  if (!known) throw new Error(`--format must be one of ${FORMATS.join(", ")} (got '${format}')`);
  return known;
}

/** The report in a few lines: the counts, the first issues, and how many more there are. */
export function printReport(file: string, report: FileIngestReport) {
  process.stdout.write(
    `${file}: ${report.received} received, ${report.stored} stored, ${report.rejected} rejected\n`,
  );
  for (const issue of report.issues.slice(0, SHOWN_ISSUES)) {
    // A message often names its field already ("loyalty.points: expected an integer"): said once.
    const message =
      issue.field && issue.message.startsWith(`${issue.field}: `)
        ? issue.message.slice(issue.field.length + 2)
        : issue.message;
    process.stdout.write(`  row ${issue.row ?? "?"}${issue.field ? ` ${issue.field}` : ""}: ${message}\n`);
  }
  const more = report.issueCount - Math.min(report.issues.length, SHOWN_ISSUES);
  if (more > 0) {
    const listed = report.issues.length;
    const hint = listed < report.issueCount ? `--json lists the first ${listed}` : "use --json for all";
    process.stdout.write(`  ... and ${more} more (${hint})\n`);
  }
}

/** Exit codes: scripts tell a complete load from one that left rows behind. */
const EXIT_ROWS_REJECTED = 2;

export const ingestCommand = newCommand(
  "ingest",
  "Load profiles or events from CSV, JSON Lines or Parquet files (optionally .gz)",
)
  .addHelpText(
    "after",
    "\nExit status: 0 when every row was stored, 2 when some rows (or all) were rejected (see the\nreport), 1 on an error that stopped the load (a file that cannot be read, a bad option).",
  )
  .argument("<files...>", "files to load")
  .option("--kind <kind>", "profiles or events", "profiles")
  .option("--delimiter <char>", "CSV delimiter (default ,; use \\t for tab)")
  .option("--format <format>", "csv, jsonl or parquet (default: from the file name)")
  .option("--json", "print the full report as JSON")
  .action(
    async (
      files: string[],
      options: GlobalOptions & { kind: string; delimiter?: string; format?: string },
    ) => {
      if (options.kind !== "profiles" && options.kind !== "events")
        throw new Error("--kind must be profiles or events");
      const format = fileFormat(options.format);
      const herald = await openHerald(configFrom(options));
      let rejected = false;
      try {
        const schema = await loadSchema(herald.store, options.sandbox);
        for (const file of files) {
          const progress = progressReporter(`loading ${file}`);
          const report = await ingestFile(herald.store, schema, {
            path: file,
            kind: options.kind,
            ...(format ? { format } : {}),
            ...(options.delimiter
              ? { delimiter: options.delimiter === "\\t" ? "\t" : options.delimiter }
              : {}),
            onProgress: (rows: number) => progress.update(rows),
          })
            // The last count shown is the report's: progress is only reported now and then.
            .then((done) => {
              progress.update(done.received);
              return done;
            })
            .finally(() => progress.stop());
          await recordAudit(herald.store, {
            sandbox: options.sandbox,
            actor: "cli",
            action: "ingest",
            resource: options.kind,
            resourceId: file,
            details: { received: report.received, stored: report.stored, rejected: report.rejected },
          });
          // The list is capped (MAX_REPORTED_ISSUES); issueCount counts every issue.
          if (options.json)
            printJson({
              file,
              ...report,
              issuesTruncated: report.issues.length < report.issueCount,
              profileIds: undefined,
            });
          else printReport(file, report);
          if (report.rejected > 0) rejected = true;
        }
      } finally {
        await herald.close();
      }
      if (rejected) process.exitCode = EXIT_ROWS_REJECTED;
    },
  );
