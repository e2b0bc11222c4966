import { request } from "undici";
import { HeraldError } from "../../errors/index.ts";
import { withoutPathSecrets } from "../shown-url.ts";
import { RetryLaterError } from "../stream-batching.ts";

/** An endpoint's answer, its body read whole. */
export interface HttpAnswer {
  status: number;
  /** A 2xx status. */
  ok: boolean;
  /** A response header by lower-case name (the first value of a repeated one). */
  header(name: string): string | undefined;
  text: string;
}

/**
 * One request through undici's `request` (kept-alive connections, redirects not followed): at
 * 10,000 events/s the streaming dispatcher posts ~150 batches a second, and the global `fetch`'s
 * WHATWG machinery cost about twice the CPU per request (docs/benchmarks.md).
 */
export async function exchange(
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal },
): Promise<HttpAnswer> {
  const response = await request(url, {
    method: init.method as "POST",
    headers: init.headers,
    body: init.body,
    signal: init.signal,
  });
  const text = await response.body.text().catch(() => "");
  return {
    status: response.statusCode,
    ok: response.statusCode >= 200 && response.statusCode < 300,
    header: (name) => {
      const value = response.headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
    text,
  };
}

/** Why a request threw: the system error code (ECONNREFUSED, ENOTFOUND, ...) or a timeout. */
export function describeRequestFailure(error: unknown): string {
  const e = error as { name?: string; code?: unknown; message?: string };
  if (e?.name === "TimeoutError") return "no answer in time";
  if (e?.name === "AbortError") return "cancelled";
  return typeof e?.code === "string" ? e.code : (e?.message ?? "network error");
}

/** `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * What an HTTP answer means for a whole request to `url`. `undefined` for 2xx. The content errors
 * (400, 409, 413, 422 and other 4xx) come back as `reject`: the records, not the endpoint, are at
 * fault. Messages name the URL and a redirect's target without their secrets (`withoutPathSecrets`).
 */
export function classifyStatus(
  response: HttpAnswer,
  url: string,
): { error: HeraldError } | { reject: string } | undefined {
  const status = response.status;
  if (status >= 200 && status < 300) return undefined;
  const where = `${withoutPathSecrets(url)} answered ${status}`;
  const retryAfter = parseRetryAfter(response.header("retry-after") ?? null);
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
    // A relative Location is resolved against the request's URL; an unreadable one is not shown.
    const header = response.header("location");
    const location =
      header && URL.canParse(header, url) ? withoutPathSecrets(new URL(header, url)) : undefined;
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
