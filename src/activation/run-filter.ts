import { z } from "zod";
import { parseInput } from "../errors/index.ts";
import type { RunStatus } from "./runs.ts";

export const runStatuses = [
  "queued",
  "running",
  "succeeded",
  "partially_succeeded",
  "failed",
] as const satisfies readonly RunStatus[];

/**
 * An ISO 8601 time (`2026-11-27T08:00:00Z`, with an offset) or a day (`2026-11-27`, midnight UTC).
 * Strict on purpose: `new Date("1")` is the year 2001, which no one means.
 */
const isoTime = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], {
    error: "expected an ISO 8601 time such as 2026-11-27T08:00:00Z, or a day such as 2026-11-27",
  })
  .transform((text) => new Date(text));

/** The filters of the run history, as the API's query and the CLI's options take them. */
export const runFilterSchema = z
  .object({
    dataflowId: z.string().min(1).optional(),
    status: z.enum(runStatuses).optional(),
    /** Runs started at or after. */
    since: isoTime.optional(),
    /** Runs started before. */
    until: isoTime.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .refine((f) => !f.since || !f.until || f.since < f.until, {
    path: ["until"],
    message: "must be after since",
  });

export type RunFilter = z.infer<typeof runFilterSchema>;

/**
 * Parses filters outside the API (whose route validates the same schema): an invalid one is a
 * validation error naming it as `fieldOf` spells it for the caller (e.g. the CLI's `--since`).
 */
export function parseRunFilter(
  input: unknown,
  fieldOf?: (path: readonly PropertyKey[]) => string,
): RunFilter {
  return parseInput(runFilterSchema, input, "run filter", fieldOf);
}
