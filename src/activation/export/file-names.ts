import { type Issue, validationError } from "../../errors/index.ts";

/**
 * File names from a template. Placeholders: %DESTINATION%, %SANDBOX%, %DATAFLOW_ID%,
 * %DATAFLOW_NAME%, %SEGMENT_ID%, %SEGMENT_NAME%, %DATETIME% (yyyyMMddHHmmss, UTC),
 * %DATETIME(pattern)% with yyyy MM dd HH mm ss, %RUN_ID%, %TEXT(...)%. Large exports split into
 * `name.csv`, `name_2.csv`, ... Without a date-time part each export replaces the previous file:
 * allowed when written so, refused when a date-time was meant (see validateFileNameTemplate).
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

const TIME_TOKENS = /yyyy|MM|dd|HH|mm|ss/g;

function formatTime(time: Date, pattern: string): string {
  return pattern.replace(TIME_TOKENS, (token) => {
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

/**
 * Anything between two `%` as the author may have meant it (`%segment_id%`, `%SEGMENTID%`): checked
 * on save so that a typo is named. Rendering reads PLACEHOLDER only, as it always has, so a
 * template saved before these checks keeps its names.
 */
const WRITTEN_PLACEHOLDER = /%([^%()\s]*)(?:\(([^%)]*)\))?%/g;
const TAKES_ARGUMENT = new Set(["DATETIME", "TEXT"]);
const KNOWN_LIST = [...KNOWN].map((name) => `%${name}%`).join(", ");

/**
 * The problems of a file name template, each naming `field` and the part at fault: an unknown
 * placeholder (with the known ones), a `%` never closed, parentheses where none are taken, a
 * %TEXT% without text, a %DATETIME(...)% format with no date-time token. An unclosed %DATETIME or
 * a token-less format writes no date-time, so each export would overwrite the last although the
 * author meant one file per run. A template with no date-time at all is allowed: a file that each
 * export replaces is a choice (docs/activation.md).
 * Example: `validateFileNameTemplate("%SEGMENT_ID%_%DATETIME", "segments.0.fileNameTemplate")`.
 */
export function validateFileNameTemplate(template: string, field = "fileNameTemplate"): Issue[] {
  const issues: Issue[] = [];
  const refuse = (problem: string) => issues.push({ field, message: `${field}: ${problem}` });
  let textStart = 0;
  const strayPercent = (end: number) => {
    const at = template.indexOf("%", textStart);
    if (at < 0 || at >= end) return;
    const part = /^%[^%]*/.exec(template.slice(at))?.[0] ?? "%";
    const hint = /^%[A-Z_]+(\([^%)]*\))?$/.test(part) ? `; did you mean ${part}%?` : "";
    refuse(
      `'${part}' at character ${at + 1}: a % starts a placeholder (%NAME%), and this one is never closed${hint}`,
    );
  };
  for (const match of template.matchAll(WRITTEN_PLACEHOLDER)) {
    strayPercent(match.index);
    textStart = match.index + match[0].length;
    const [written, name = "", argument] = match;
    if (!KNOWN.has(name)) {
      refuse(`unknown placeholder ${written}; the placeholders are ${KNOWN_LIST}`);
    } else if (argument !== undefined && !TAKES_ARGUMENT.has(name)) {
      refuse(`${written}: %${name}% takes nothing in parentheses`);
    } else if (name === "TEXT" && !argument) {
      refuse(`${written} has no text; write it in parentheses, as in %TEXT(daily)%`);
    } else if (name === "DATETIME" && argument && !new RegExp(TIME_TOKENS).test(argument)) {
      refuse(
        `${written}: the format '${argument}' has no date-time part (yyyy, MM, dd, HH, mm, ss), so every export would get the same name and replace the last; write for example %DATETIME(yyyy-MM-dd)%`,
      );
    }
  }
  strayPercent(template.length);
  return issues;
}

export function renderFileName(
  template: string,
  context: FileNameContext,
  part: number,
  extension: string,
): string {
  for (const [written, name] of template.matchAll(PLACEHOLDER)) {
    if (!KNOWN.has(name as string)) {
      throw validationError(
        `fileNameTemplate: unknown placeholder ${written}; the placeholders are ${KNOWN_LIST}`,
        [{ field: "fileNameTemplate", message: `unknown placeholder ${written}` }],
      );
    }
  }
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
