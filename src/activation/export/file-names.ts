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

/**
 * What a name keeps: letters and digits of every script (with their combining marks, NFC-normalised
 * so that an `é` typed either way gives one name), `.`, `_` and `-`. Anything else becomes `-`:
 * spaces, path separators, control characters, the characters Windows, SMB and Azure refuse
 * (`\ : * ? " < > |`) and the other punctuation URLs and shells mistake (`# % & +`). Names in
 * ASCII come out as they always have; `日本の顧客` and `中国の顧客` stay two names.
 */
const safe = (text: string) =>
  text
    .normalize("NFC")
    .replace(/[^\p{L}\p{M}\p{N}._-]+/gu, "-")
    .replace(/^-+|-+$/g, "");

/** The limit of most file systems on one name, in UTF-8 bytes (ext4, XFS, ZFS; NTFS counts 255 UTF-16 units). */
export const FILE_NAME_LIMIT_BYTES = 255;
/** The most files one segment's run may write (fileOptions.maxFiles is at most 1000). */
const MOST_PARTS = 1000;

const utf8Bytes = (text: string) => Buffer.byteLength(text, "utf8");

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

function refuseUnknownPlaceholders(template: string) {
  for (const [written, name] of template.matchAll(PLACEHOLDER)) {
    if (!KNOWN.has(name as string)) {
      throw validationError(
        `fileNameTemplate: unknown placeholder ${written}; the placeholders are ${KNOWN_LIST}`,
        [{ field: "fileNameTemplate", message: `unknown placeholder ${written}` }],
      );
    }
  }
}

/** The template with its placeholders filled in, before any part number and extension. */
function renderStem(template: string, context: FileNameContext): string {
  refuseUnknownPlaceholders(template);
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
  // No leading dot: a hidden file, or `..` on a file system.
  return safe(base).replace(/^[.-]+/, "") || "export";
}

const withPart = (stem: string, part: number, extension: string) =>
  `${stem}${part > 1 ? `_${part}` : ""}.${extension}`;

/**
 * `manifest-<the files' name>.json`: named by the files' own template (their scheduled time, not
 * the run's id), so that a rerun replaces it with the files it lists instead of adding another.
 */
export function renderManifestName(template: string, context: FileNameContext): string {
  return withPart(renderStem(`manifest-${template}`, context), 1, "json");
}

/** Every name one segment's run can write: parts 1 to `maxFiles`, and the manifest when there is one. */
export function runFileNames(
  template: string,
  context: FileNameContext,
  extension: string,
  options: { maxFiles: number; manifest: boolean },
): string[] {
  const stem = renderStem(template, context);
  const parts = Array.from({ length: options.maxFiles }, (_, i) => withPart(stem, i + 1, extension));
  return options.manifest ? [...parts, renderManifestName(template, context)] : parts;
}

/**
 * The longest name a template can give one segment's run, in UTF-8 bytes: its manifest
 * (`manifest-<name>.json`) or its last possible part (`<name>_1000.<extension>`), whichever is
 * longer, whatever maxFiles and manifest are set to (so the run's own check, made on part 1 before
 * anything is uploaded, and the check at save agree).
 */
export function longestFileName(
  template: string,
  context: FileNameContext,
  extension: string,
): { name: string; bytes: number; which: string } {
  const last = withPart(renderStem(template, context), MOST_PARTS, extension);
  const manifest = renderManifestName(template, context);
  return utf8Bytes(manifest) > utf8Bytes(last)
    ? { name: manifest, bytes: utf8Bytes(manifest), which: "its manifest" }
    : { name: last, bytes: utf8Bytes(last), which: `its part ${MOST_PARTS}` };
}

/** The message for a template whose longest name is over the limit, or undefined. */
export function fileNameLengthProblem(
  template: string,
  context: FileNameContext,
  extension: string,
): string | undefined {
  const longest = longestFileName(template, context, extension);
  if (longest.bytes <= FILE_NAME_LIMIT_BYTES) return undefined;
  return `the longest file name it can give, ${longest.which} '${longest.name}', is ${longest.bytes} bytes in UTF-8; the limit is ${FILE_NAME_LIMIT_BYTES} bytes: shorten the template, or the names its placeholders hold`;
}

/**
 * The name of part `part` of an export. Part 1, the first written, is refused when the longest name
 * of the run (its manifest, its last possible part) would be over the limit: a run fails before
 * delivering anything, never between two files.
 */
export function renderFileName(
  template: string,
  context: FileNameContext,
  part: number,
  extension: string,
): string {
  const name = withPart(renderStem(template, context), part, extension);
  const problem = part === 1 ? fileNameLengthProblem(template, context, extension) : undefined;
  if (problem || utf8Bytes(name) > FILE_NAME_LIMIT_BYTES) {
    throw validationError(
      `fileNameTemplate: ${problem ?? `the file name would be ${utf8Bytes(name)} bytes in UTF-8; the limit is ${FILE_NAME_LIMIT_BYTES} bytes`}`,
      [{ field: "fileNameTemplate", message: `file name longer than ${FILE_NAME_LIMIT_BYTES} bytes` }],
    );
  }
  return name;
}
