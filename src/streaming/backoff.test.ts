import { describe, expect, it } from "vitest";
import {
  createDataflowHolds,
  createRateLimiter,
  defaultRetryPolicy,
  retryAt,
  retryDelayMs,
  retrySpanMs,
} from "./backoff.ts";

describe("retry timing", () => {
  it("doubles the delay with half of it random, up to the cap", () => {
    const low = () => 0;
    const high = () => 1;
    expect([1, 2, 3].map((n) => retryDelayMs(defaultRetryPolicy, n, low))).toEqual([125, 250, 500]);
    expect([1, 2, 3].map((n) => retryDelayMs(defaultRetryPolicy, n, high))).toEqual([250, 500, 1000]);
    expect(retryDelayMs(defaultRetryPolicy, 30, high)).toBe(300_000);
  });

  it("holds a message through an hour of outage at least by default, two at most", () => {
    const { shortest, longest } = retrySpanMs(defaultRetryPolicy);
    expect(shortest).toBeGreaterThanOrEqual(3_600_000);
    expect(longest).toBeLessThanOrEqual(2.1 * 3_600_000);
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

describe("a dataflow's hold after a failed send", () => {
  it("grows with the consecutive failures, never ends before Retry-After, and ends once the destination answers", () => {
    const holds = createDataflowHolds(defaultRetryPolicy, () => 1);
    expect(holds.heldUntil("df", 0)).toBeUndefined();
    expect(holds.failed("df", 0)).toBe(250);
    expect(holds.heldUntil("df", 100)).toBe(250);
    expect(holds.heldUntil("df", 250)).toBeUndefined();
    expect(holds.failed("df", 1_000)).toBe(1_500);
    expect(holds.failed("df", 2_000, 30_000)).toBe(32_000);
    expect(holds.nextEnd(2_000)).toBe(32_000);
    holds.answered("df");
    expect(holds.heldUntil("df", 2_000)).toBeUndefined();
    expect(holds.failed("df", 40_000)).toBe(40_250);
  });
});

describe("the rate limit per destination", () => {
  it("grants a second's worth at once, then as time passes, never more than a second's worth", () => {
    const clock = { now: 0 };
    const limiter = createRateLimiter(5, () => clock.now);
    expect(limiter.take(10)).toBe(5);
    expect(limiter.take(1)).toBe(0);
    expect(limiter.waitMs()).toBe(200);
    clock.now = 200;
    expect(limiter.waitMs()).toBe(0);
    expect(limiter.take(5)).toBe(1);
    // Idle for ten seconds: still one second's burst, not ten.
    clock.now = 10_200;
    expect(limiter.take(100)).toBe(5);
  });
});
