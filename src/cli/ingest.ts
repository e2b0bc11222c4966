import { recordAudit } from "../access/index.ts";
import { openHerald } from "../api/index.ts";
import { ingestFile } from "../profiles/files/index.ts";
import type { IngestReport } from "../profiles/index.ts";
import { loadSchema } from "../schema/index.ts";
import { configFrom, type GlobalOptions, newCommand, printJson } from "./context.ts";
import { progressReporter } from "./progress.ts";

export function printReport(file: string, report: IngestReport) {
  process.stdout.write(
    `${file}: ${report.received} received, ${report.stored} stored, ${report.rejected} rejected\n`,
  );
  for (const issue of report.issues.slice(0, 20)) {
    process.stdout.write(
      `  row ${issue.row ?? "?"}${issue.field ? ` ${issue.field}` : ""}: ${issue.message}\n`,
    );
  }
  if (report.issues.length > 20)
    process.stdout.write(`  ... and ${report.issues.length - 20} more (use --json for all)\n`);
}

export const ingestCommand = newCommand(
  "ingest",
  "Load profiles or events from CSV, JSON Lines or Parquet files (optionally .gz)",
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
      const herald = await openHerald(configFrom(options));
      let failed = false;
      try {
        const schema = await loadSchema(herald.store, options.sandbox);
        for (const file of files) {
          const progress = progressReporter(`loading ${file}`);
          const report = await ingestFile(herald.store, schema, {
            path: file,
            kind: options.kind,
            ...(options.format ? { format: options.format as "csv" | "jsonl" | "parquet" } : {}),
            ...(options.delimiter
              ? { delimiter: options.delimiter === "\\t" ? "\t" : options.delimiter }
              : {}),
            onProgress: (rows: number) => progress.update(rows),
          }).finally(() => progress.stop());
          await recordAudit(herald.store, {
            sandbox: options.sandbox,
            actor: "cli",
            action: "ingest",
            resource: options.kind,
            resourceId: file,
            details: { received: report.received, stored: report.stored, rejected: report.rejected },
          });
          if (options.json) printJson({ file, ...report, profileIds: undefined });
          else printReport(file, report);
          if (report.stored === 0 && report.received > 0) failed = true;
        }
      } finally {
        await herald.close();
      }
      if (failed) process.exitCode = 1;
    },
  );
