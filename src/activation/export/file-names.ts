import { validationError } from "../../errors/index.ts";

/**
 * File names from a template. Placeholders: %DESTINATION%, %SANDBOX%, %DATAFLOW_ID%,
 * %DATAFLOW_NAME%, %SEGMENT_ID%, %SEGMENT_NAME%, %DATETIME% (yyyyMMddHHmmss, UTC),
 * %DATETIME(pattern)% with yyyy MM dd HH mm ss, %RUN_ID%, %TEXT(...)%. Large exports split into
 * `name.csv`, `name_2.csv`, ... Without a date-time part each export replaces the previous file.
 */
export const DEFAULT_FILE_NAME_TEMPLATE = "%DESTINATION%_segment%SEGMENT_ID%_%DATETIME%";

export interface FileNameContext {
  destination: string;
  sandbox: string;
  dataflowId: string;
  dataflowName: string;
  segmentId: string;
  segmentName: string;
  runId: string;
  /** The run's scheduled time: re-running a run gives the same names. */
  time: Date;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function formatTime(time: Date, pattern: string): string {
  return pattern.replace(/yyyy|MM|dd|HH|mm|ss/g, (token) => {
    switch (token) {
      case "yyyy":
        return pad(time.getUTCFullYear(), 4);
      case "MM":
        return pad(time.getUTCMonth() + 1);
      case "dd":
        return pad(time.getUTCDate());
      case "HH":
        return pad(time.getUTCHours());
      case "mm":
        return pad(time.getUTCMinutes());
      default:
        return pad(time.getUTCSeconds());
    }
  });
}

/** Characters no file system or object store is unhappy with. */
const safe = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "");

const PLACEHOLDER = /%([A-Z_]+)(?:\(([^)%]*)\))?%/g;
const KNOWN = new Set([
  "DESTINATION",
  "SANDBOX",
  "DATAFLOW_ID",
  "DATAFLOW_NAME",
  "SEGMENT_ID",
  "SEGMENT_NAME",
  "DATETIME",
  "RUN_ID",
  "TEXT",
]);

export function validateFileNameTemplate(template: string): void {
  for (const match of template.matchAll(PLACEHOLDER)) {
    if (!KNOWN.has(match[1] as string)) {
      throw validationError(
        `fileNameTemplate: unknown placeholder %${match[1]}% (known: ${[...KNOWN].map((k) => `%${k}%`).join(", ")})`,
        [{ field: "fileNameTemplate", message: `unknown placeholder %${match[1]}%` }],
      );
    }
  }
}

export function renderFileName(
  template: string,
  context: FileNameContext,
  part: number,
  extension: string,
): string {
  validateFileNameTemplate(template);
  const base = template.replace(PLACEHOLDER, (_, name: string, argument?: string) => {
    switch (name) {
      case "DESTINATION":
        return safe(context.destination);
      case "SANDBOX":
        return safe(context.sandbox);
      case "DATAFLOW_ID":
        return safe(context.dataflowId);
      case "DATAFLOW_NAME":
        return safe(context.dataflowName);
      case "SEGMENT_ID":
        return safe(context.segmentId);
      case "SEGMENT_NAME":
        return safe(context.segmentName);
      case "RUN_ID":
        return safe(context.runId);
      case "DATETIME":
        return formatTime(context.time, argument || "yyyyMMddHHmmss");
      default:
        return safe(argument ?? "");
    }
  });
  const name = `${safe(base) || "export"}${part > 1 ? `_${part}` : ""}.${extension}`;
  if (name.length > 255) {
    throw validationError(
      `fileNameTemplate: the file name would be ${name.length} characters; the limit is 255`,
      [{ field: "fileNameTemplate", message: "file name longer than 255 characters" }],
    );
  }
  return name;
}
