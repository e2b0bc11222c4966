import { HeraldError } from "../../errors/index.ts";
import { RetryLaterError } from "../stream-batching.ts";

/** Why a fetch threw: the system error code (ECONNREFUSED, ENOTFOUND, ...) or a timeout. */
export function describeFetchFailure(error: unknown): string {
  const e = error as {
    name?: string;
    cause?: { code?: string; errors?: { code?: string }[] };
    message?: string;
  };
  if (e?.name === "TimeoutError") return "no answer in time";
  if (e?.name === "AbortError") return "cancelled";
  return e?.cause?.code ?? e?.cause?.errors?.[0]?.code ?? e?.message ?? "network error";
}

/** `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * What an HTTP answer means for a whole request. `undefined` for 2xx. The content errors (400, 409,
 * 413, 422 and other 4xx) come back as `reject`: the records, not the endpoint, are at fault.
 */
export function classifyStatus(
  response: Response,
  url: string,
): { error: HeraldError } | { reject: string } | undefined {
  const status = response.status;
  if (status >= 200 && status < 300) return undefined;
  const where = `${url} answered ${status}`;
  const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
  if (status === 429) {
    const message = `${where} (too many requests)${retryAfter === undefined ? "" : `; retry after ${Math.round(retryAfter / 1000)} s`}`;
    return {
      error:
        retryAfter === undefined
          ? new HeraldError("rate_limited", "http_rate_limited", message)
          : new RetryLaterError("rate_limited", "http_rate_limited", message, retryAfter),
    };
  }
  if (status >= 500 || status === 408) {
    return {
      error:
        retryAfter === undefined
          ? new HeraldError("unavailable", "http_unavailable", where)
          : new RetryLaterError("unavailable", "http_unavailable", where, retryAfter),
    };
  }
  if (status === 401)
    return {
      error: new HeraldError("auth_failed", "http_auth_failed", `${where}: the credentials were refused`),
    };
  if (status === 403)
    return {
      error: new HeraldError("forbidden", "http_forbidden", `${where}: the credentials may not send here`),
    };
  if (status === 404)
    return { error: new HeraldError("not_found", "http_not_found", `${where}: check the URL and path`) };
  if (status === 405)
    return {
      error: new HeraldError(
        "validation",
        "http_method_not_allowed",
        `${where}: the endpoint does not accept this method`,
      ),
    };
  if (status >= 300 && status < 400) {
    const location = response.headers.get("location");
    return {
      error: new HeraldError(
        "validation",
        "http_redirect",
        `${where}, a redirect${location ? ` to ${location}` : ""}: configure the final URL`,
      ),
    };
  }
  return { reject: where };
}
