import { HeraldError } from "../../errors/index.ts";
import { withDeadline } from "../deadline.ts";
import { withoutPathSecrets } from "../shown-url.ts";
import { chunkRecords, failChunks, keepKeyOrder } from "../stream-batching.ts";
import type { BatchResult, OutboundRecord, StreamLimits } from "../types.ts";
import type { Authorizer } from "./authorization.ts";
import {
  DEFAULT_HTTP_TIMEOUT_SECONDS,
  type HttpConnection,
  type HttpDetails,
  targetUrl,
} from "./connection.ts";
import { classifyStatus, describeRequestFailure, exchange, type HttpAnswer } from "./http-status.ts";
import { authorizationSecrets, requestSecrets, responseExcerpt } from "./response-excerpt.ts";

/**
 * The machinery may hand up to 10,000 records (the largest `batchSize`); the session cuts them into
 * requests of the dataflow's `batchSize` and at most 16 MiB.
 */
export const httpLimits: StreamLimits = {
  maxBatchRecords: 10_000,
  maxBatchBytes: 16 * 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
  maxConcurrency: 4,
};

/**
 * A dataflow's session limits: batches of one request each (`batchSize` records, and room left in
 * the 16 MiB for the comma after each record), so that the machinery sends `maxConcurrency`
 * requests at once, each under its own deadline, instead of one batch posted request after request.
 */
export function httpSessionLimits(batchSize: number): StreamLimits {
  return { ...httpLimits, maxBatchRecords: batchSize, maxBatchBytes: httpLimits.maxBatchBytes - batchSize };
}

export interface HttpTarget {
  url: string;
  method: NonNullable<HttpConnection["method"]>;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Values hidden from the excerpt of a refused request's answer (`responseExcerpt`). */
  secrets: readonly string[];
}

export function httpTarget(connection: HttpConnection, details: HttpDetails): HttpTarget {
  const url = targetUrl(connection, details);
  return {
    url: url.toString(),
    method: connection.method ?? "POST",
    headers: {
      ...connection.headers,
      ...connection.secretHeaders,
      ...details.headers,
      "content-type": "application/json",
      accept: "application/json",
      "user-agent": "Herald",
    },
    timeoutMs: (connection.timeoutSeconds ?? DEFAULT_HTTP_TIMEOUT_SECONDS) * 1000,
    secrets: requestSecrets(connection, url),
  };
}

export type RequestOutcome = { ok: true } | { ok: false; error: HeraldError } | { ok: false; reject: string };

/**
 * One request with `body`, authenticated; on 401 with an OAuth2 token the token is fetched again
 * and the request sent once more.
 */
export async function sendRequest(
  target: HttpTarget,
  authorizer: Authorizer,
  body: string,
  signal?: AbortSignal,
): Promise<RequestOutcome> {
  for (let attempt = 0; ; attempt++) {
    const authorization = await authorizer.header(signal);
    let response: HttpAnswer;
    try {
      response = await withDeadline(target.timeoutMs, signal, (deadline) =>
        exchange(target.url, {
          method: target.method,
          headers: { ...target.headers, ...(authorization ? { authorization } : {}) },
          body,
          signal: deadline,
        }),
      );
    } catch (error) {
      return {
        ok: false,
        error: new HeraldError(
          "unavailable",
          "http_unreachable",
          `Cannot reach ${withoutPathSecrets(target.url)} (${describeRequestFailure(error)})`,
        ),
      };
    }
    if (response.status === 401 && attempt === 0 && authorizer.invalidate()) continue;
    const outcome = classifyStatus(response, target.url);
    if (!outcome) return { ok: true };
    if ("error" in outcome) return { ok: false, error: outcome.error };
    const detail = responseExcerpt(response.text, [
      ...target.secrets,
      ...authorizationSecrets(authorization),
    ]);
    return { ok: false, reject: detail ? `${outcome.reject}: ${detail}` : outcome.reject };
  }
}

/**
 * Sends records as `{"records": [payload, ...]}`, `batchSize` per request, requests one after the
 * other so a profile's records arrive in order (the streaming machinery hands one request's worth at
 * a time, see `httpSessionLimits`, and sends several at once, each profile in one of them). A request refused for its content (400, 409, 413,
 * 422, ...) fails its records without retry and the next request goes on. A request that fails for
 * the endpoint's sake (unreachable, 5xx, 429, 401, 403, 404) rejects the whole call when it is the
 * first; after some requests went through, it and every later request are reported failed instead.
 */
export async function postBatches(
  target: HttpTarget,
  authorizer: Authorizer,
  batchSize: number,
  records: readonly OutboundRecord[],
  signal?: AbortSignal,
): Promise<BatchResult> {
  const { chunks, tooLarge } = chunkRecords(
    records,
    { maxRecords: batchSize, maxBytes: httpLimits.maxBatchBytes, maxRecordBytes: httpLimits.maxRecordBytes },
    (record) => Buffer.byteLength(record.json) + 1,
  );
  const failed: BatchResult["failed"] = [...tooLarge];
  for (const [c, chunk] of chunks.entries()) {
    const body = `{"records":[${chunk.map((i) => records[i]?.json).join(",")}]}`;
    const outcome = await sendRequest(target, authorizer, body, signal);
    if (outcome.ok) continue;
    if ("reject" in outcome) {
      for (const index of chunk) failed.push({ index, retryable: false, error: outcome.reject });
      continue;
    }
    if (c === 0) throw outcome.error;
    failed.push(...failChunks(chunks.slice(c), outcome.error));
    break;
  }
  return {
    failed: keepKeyOrder(
      records,
      failed.sort((a, b) => a.index - b.index),
    ),
  };
}
