import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { withDeadline } from "./deadline.ts";

/** Work that settles only when its signal aborts (or has), with the signal's reason. */
const untilAborted = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason));
  });

describe("withDeadline", () => {
  it("aborts the work with a TimeoutError once the time is up", async () => {
    const started = performance.now();
    const error = await withDeadline(30, undefined, untilAborted).catch((e: unknown) => e);
    expect((error as Error).name).toBe("TimeoutError");
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  it("passes the caller's abort on, with its reason", async () => {
    const outer = new AbortController();
    const pending = withDeadline(10_000, outer.signal, untilAborted);
    outer.abort(new Error("run cancelled"));
    await expect(pending).rejects.toThrow("run cancelled");
  });

  it("aborts at once when the caller's signal has already aborted", async () => {
    const error = await withDeadline(10_000, AbortSignal.abort(), untilAborted).catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
  });

  it("leaves the signal alone after the work settled: no late abort, no listener on the caller's", async () => {
    const outer = new AbortController();
    let seen: AbortSignal | undefined;
    const value = await withDeadline(20, outer.signal, async (signal) => {
      seen = signal;
      return 42;
    });
    expect(value).toBe(42);
    await sleep(40);
    expect(seen?.aborted).toBe(false);
    outer.abort();
    expect(seen?.aborted).toBe(false);
  });
});
