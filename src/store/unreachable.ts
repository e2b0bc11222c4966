import type pg from "pg";
import { HeraldError } from "../errors/index.ts";

/**
 * How PostgreSQL and the network say the database is not there now: SQLSTATE class 08 (connection
 * exceptions), 57P01-57P03 (the server shutting down or starting), a refused, reset or timed-out
 * socket, and node-postgres's own words for a connection that ended under it.
 */
const UNREACHABLE_CODES = new Set([
  "57P01",
  "57P02",
  "57P03",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);
const STORE_UNAVAILABLE = "store_unavailable";
const UNREACHABLE_MESSAGE = /Connection terminated|connection error|timeout exceeded when trying to connect/i;

/**
 * Whether an error of the PostgreSQL driver means the database cannot be reached (at the moment),
 * or is one `asUnavailable` made of such an error.
 */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === STORE_UNAVAILABLE) return true;
  if (typeof code === "string" && (UNREACHABLE_CODES.has(code) || code.startsWith("08"))) return true;
  return error instanceof Error && UNREACHABLE_MESSAGE.test(error.message);
}

/**
 * A driver error as callers should see it: the database out of reach becomes `unavailable` (the API
 * answers 503, an export retries), naming the cause by its code, never the connection URL (it may
 * hold a password); any other error is returned as it is.
 */
export function asUnavailable(error: unknown): unknown {
  if (!isUnreachable(error) || error instanceof HeraldError) return error;
  const code = (error as { code?: unknown }).code;
  const cause = typeof code === "string" ? code : "its connection ended";
  return new HeraldError(
    "unavailable",
    STORE_UNAVAILABLE,
    `The database cannot be reached now (${cause}); try again shortly`,
  );
}

/**
 * A connection borrowed from the pool for several statements (a transaction, an export's COPY).
 * Its `error` event is heard: a connection that breaks with no query running (between statements)
 * would otherwise end the process. `failed(error)` notes an error that broke it; `release(discard)`
 * returns it to the pool, or discards it when broken (never handed to the next caller).
 */
export async function borrowConnection(pool: pg.Pool) {
  const client = await pool.connect().catch((error: unknown) => {
    throw asUnavailable(error);
  });
  let broken = false;
  const onBreak = () => {
    broken = true;
  };
  client.on("error", onBreak);
  return {
    client,
    get broken() {
      return broken;
    },
    failed(error: unknown) {
      broken ||= isUnreachable(error);
    },
    release(discard = false) {
      client.off("error", onBreak);
      // A discarded connection may still report its end: unheard, that would end the process too.
      if (broken || discard) client.on("error", () => {});
      client.release(broken || discard);
    },
  };
}
