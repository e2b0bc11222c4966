/** Retry policy of the dispatcher: exponential backoff with jitter, then the dead letters. */
export interface RetryPolicy {
  /** Attempts before a message is dead-lettered (default 8). */
  maxAttempts: number;
  /** Delay before the second attempt (default 250 ms); doubles each time. */
  baseDelayMs: number;
  /** Longest delay between two attempts (default 60 s). */
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 8, baseDelayMs: 250, maxDelayMs: 60_000 };

/**
 * Delay before the next attempt after `attempts` failed ones: base × 2^(attempts−1), capped, with
 * "equal jitter" (half fixed, half random) so destinations recovering from an outage are not hit by
 * every sender at the same instant.
 */
export function retryDelayMs(policy: RetryPolicy, attempts: number, random = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}

/**
 * When to try again after `attempts` failed ones: the backoff delay, but never sooner than the
 * destination asked (HTTP `Retry-After`).
 */
export function retryAt(
  policy: RetryPolicy,
  attempts: number,
  now: number,
  retryAfterMs = 0,
  random = Math.random,
): Date {
  return new Date(now + Math.max(retryDelayMs(policy, attempts, random), retryAfterMs));
}

/**
 * A token bucket: `perSecond` records a second on average, bursts up to one second's worth.
 * `take(n)` grants what is available now (possibly fewer than asked).
 */
export function createRateLimiter(perSecond: number, now: () => number = () => performance.now()) {
  let tokens = perSecond;
  let last = now();
  const refill = () => {
    const at = now();
    tokens = Math.min(perSecond, tokens + ((at - last) / 1000) * perSecond);
    last = at;
  };
  return {
    take(wanted: number): number {
      refill();
      const granted = Math.max(0, Math.min(wanted, Math.floor(tokens)));
      tokens -= granted;
      return granted;
    },
    /** Milliseconds until at least one record may be sent. */
    waitMs(): number {
      refill();
      return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / perSecond) * 1000);
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
