import { HeraldError, isHeraldError, isRetryable } from "../errors/index.ts";
import type { BatchResult, OutboundRecord } from "./types.ts";

type Failure = BatchResult["failed"][number];

/** One request's worth of records, as indexes into the batch given to `sendBatch`. */
export type Chunk = number[];

/**
 * Splits a batch into requests of at most `maxRecords` records and `maxBytes` bytes, keeping the
 * batch's order. A record larger than `maxRecordBytes` can never be sent: it is reported as a
 * non-retryable failure instead of being put in a request.
 */
export function chunkRecords(
  records: readonly OutboundRecord[],
  limits: { maxRecords: number; maxBytes: number; maxRecordBytes: number },
  sizeOf: (record: OutboundRecord, index: number) => number,
): { chunks: Chunk[]; tooLarge: Failure[] } {
  const chunks: Chunk[] = [];
  const tooLarge: Failure[] = [];
  let current: Chunk = [];
  let bytes = 0;
  records.forEach((record, index) => {
    const size = sizeOf(record, index);
    if (size > limits.maxRecordBytes) {
      tooLarge.push({
        index,
        retryable: false,
        error: `record of ${size} bytes is over the destination's limit of ${limits.maxRecordBytes} bytes`,
      });
      return;
    }
    if (current.length && (current.length >= limits.maxRecords || bytes + size > limits.maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(index);
    bytes += size;
  });
  if (current.length) chunks.push(current);
  return { chunks, tooLarge };
}

/** Every record of the given chunks fails with the same error (a request that failed whole). */
export function failChunks(chunks: readonly Chunk[], error: unknown): Failure[] {
  const retryable = isRetryable(error);
  const message = isHeraldError(error) ? error.message : String(error);
  return chunks.flatMap((chunk) => chunk.map((index) => ({ index, retryable, error: message })));
}

/**
 * Keeps per-key order across a resend. When a record fails retryably, the later records of the same
 * key that were accepted are reported as failed too, so the resend delivers them again after it:
 * the receiver may see a message twice, but the last message it gets for a profile is always the
 * latest one. A non-retryable failure holds nothing back: that record will never be delivered.
 */
export function keepKeyOrder(records: readonly OutboundRecord[], failed: readonly Failure[]): Failure[] {
  const byIndex = new Map(failed.map((f) => [f.index, f]));
  const blocked = new Set<string>();
  const result: Failure[] = [];
  records.forEach((record, index) => {
    const failure = byIndex.get(index);
    if (failure) {
      result.push(failure);
      if (failure.retryable) blocked.add(record.key);
    } else if (blocked.has(record.key)) {
      result.push({
        index,
        retryable: true,
        error: "held back: an earlier record of the same key failed and will be resent first",
      });
    }
  });
  return result;
}

/**
 * A transient failure with the destination's own word on when to try again (HTTP `Retry-After`).
 * The streaming machinery reads it with `retryAfterMsOf` and waits at least that long.
 */
export class RetryLaterError extends HeraldError {
  readonly retryAfterMs: number;

  constructor(kind: "rate_limited" | "unavailable", code: string, message: string, retryAfterMs: number) {
    super(kind, code, message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** How long the destination asked to wait before the next attempt, when it said so. */
export function retryAfterMsOf(error: unknown): number | undefined {
  return error instanceof RetryLaterError ? error.retryAfterMs : undefined;
}
