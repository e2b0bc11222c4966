/**
 * Errors are data: a closed set of kinds, each with a stable code and a message that names the
 * field, row or setting at fault. The API maps kinds to HTTP in one place (src/api/errors.ts);
 * anything that is not a HeraldError is an internal fault, logged in full and shown only as an id.
 */
import type { z } from "zod";

export type ErrorKind =
  | "validation"
  | "not_found"
  | "forbidden"
  | "unauthenticated"
  | "conflict"
  | "unavailable"
  | "rate_limited"
  | "auth_failed"
  | "payload_too_large"
  | "unsupported_media_type"
  | "internal";

/** One problem with one part of the input: a field path, and a row or index when input is a batch. */
export interface Issue {
  field?: string;
  row?: number;
  message: string;
}

export class HeraldError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly issues: Issue[];
  /** Structured facts about the refusal for programs (a policy violation's lineage); never a secret. */
  readonly details?: Record<string, unknown>;

  constructor(
    kind: ErrorKind,
    code: string,
    message: string,
    issues: Issue[] = [],
    details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "HeraldError";
    this.kind = kind;
    this.code = code;
    this.issues = issues;
    if (details) this.details = details;
  }
}

export const validationError = (message: string, issues: Issue[] = [], code = "invalid_input") =>
  new HeraldError("validation", code, message, issues);

type FieldOf = (path: readonly PropertyKey[]) => string;
const dotted: FieldOf = (path) => path.map(String).join(".");

/** A zod failure's issues, each naming its field as `fieldOf` spells a path for the caller. */
export function issuesOf(error: z.ZodError, fieldOf: FieldOf = dotted): Issue[] {
  return error.issues.map((issue) => {
    const field = fieldOf(issue.path);
    return { field, message: `${field}: ${issue.message}` };
  });
}

/**
 * Parses input with its zod schema; on failure, a validation error naming each faulty field, as
 * `fieldOf` spells a path for the caller (dotted by default; the CLI names its options).
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  fieldOf: FieldOf = dotted,
  code = "invalid_input",
): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = issuesOf(parsed.error, fieldOf);
  throw validationError(`Invalid ${what}: ${issues.map((i) => i.message).join("; ")}`, issues, code);
}

export const notFound = (what: string, id: string) =>
  new HeraldError("not_found", `${what.replace(/\s+/g, "_")}_not_found`, `${what} '${id}' does not exist`);

export const conflict = (code: string, message: string) => new HeraldError("conflict", code, message);

export function isHeraldError(error: unknown): error is HeraldError {
  return error instanceof HeraldError;
}

/** Compile-time guarantee that a switch handles every case of a union. */
export function assertNever(value: never, what = "value"): never {
  throw new Error(`Unhandled ${what}: ${JSON.stringify(value)}`);
}

/** Transient faults are worth retrying; everything else is the caller's to fix. */
export function isRetryable(error: unknown): boolean {
  if (!isHeraldError(error)) return false;
  switch (error.kind) {
    case "unavailable":
    case "rate_limited":
      return true;
    case "validation":
    case "not_found":
    case "forbidden":
    case "unauthenticated":
    case "conflict":
    case "auth_failed":
    case "payload_too_large":
    case "unsupported_media_type":
    case "internal":
      return false;
    default:
      return assertNever(error.kind, "error kind");
  }
}
