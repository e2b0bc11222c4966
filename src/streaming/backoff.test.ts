import { describe, expect, it } from "vitest";
import { defaultRetryPolicy, retryAt, retryDelayMs } from "./backoff.ts";

describe("retry timing", () => {
  it("doubles the delay with half of it random, up to the cap", () => {
    const low = () => 0;
    const high = () => 1;
    expect([1, 2, 3].map((n) => retryDelayMs(defaultRetryPolicy, n, low))).toEqual([125, 250, 500]);
    expect([1, 2, 3].map((n) => retryDelayMs(defaultRetryPolicy, n, high))).toEqual([250, 500, 1000]);
    expect(retryDelayMs(defaultRetryPolicy, 30, high)).toBe(60_000);
  });

  it("waits at least as long as the destination asked (Retry-After)", () => {
    const now = Date.parse("2026-11-26T10:00:00Z");
    expect(retryAt(defaultRetryPolicy, 1, now, 30_000, () => 1).toISOString()).toBe(
      "2026-11-26T10:00:30.000Z",
    );
    expect(retryAt(defaultRetryPolicy, 1, now, undefined, () => 1).toISOString()).toBe(
      "2026-11-26T10:00:00.250Z",
    );
  });
});
