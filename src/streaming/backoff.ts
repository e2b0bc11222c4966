/**
 * Retry policy of the dispatcher: exponential backoff with jitter, then the dead letters. The
 * default holds a message through an outage of an hour at least (`retrySpanMs`: 62 minutes with
 * the jitter at its lowest, 2 hours 4 minutes at its highest) before it becomes a dead letter.
 */
export interface RetryPolicy {
  /** Attempts before a message is dead-lettered (default 35). */
  maxAttempts: number;
  /** Delay before the second attempt (default 250 ms); doubles each time. */
  baseDelayMs: number;
  /** Longest delay between two attempts (default 5 minutes). */
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 35, baseDelayMs: 250, maxDelayMs: 300_000 };

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
 * How long a destination may stay down before a message that was tried all along becomes a dead
 * letter: the delays between its `maxAttempts` attempts, with the jitter at its lowest and highest.
 */
export function retrySpanMs(policy: RetryPolicy): { shortest: number; longest: number } {
  let longest = 0;
  for (let attempts = 1; attempts < policy.maxAttempts; attempts++) {
    longest += Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempts - 1));
  }
  return { shortest: longest / 2, longest };
}

/**
 * The dataflows held back after a send failed whole (the destination unreachable, failing,
 * throttling or refusing the credentials): none of a held dataflow's messages is tried before its
 * hold ends, so a dead endpoint gets one batch per backoff, not every profile's message one after
 * the other. The hold grows with the dataflow's consecutive failed sends as a message's backoff
 * grows with its attempts, and never ends before the destination asked (`Retry-After`). A send that
 * is answered, even with some records refused, ends it.
 */
export function createDataflowHolds(policy: RetryPolicy, random = Math.random) {
  const holds = new Map<string, { failures: number; until: number }>();
  return {
    /** When the dataflow's hold ends (epoch ms), if it is held at `now`. */
    heldUntil(dataflow: string, now: number): number | undefined {
      const hold = holds.get(dataflow);
      return hold && hold.until > now ? hold.until : undefined;
    },
    /** A send of the dataflow failed whole: holds it, longer than last time; returns the end. */
    failed(dataflow: string, now: number, retryAfterMs = 0): number {
      const failures = (holds.get(dataflow)?.failures ?? 0) + 1;
      const until = now + Math.max(retryDelayMs(policy, failures, random), retryAfterMs);
      holds.set(dataflow, { failures, until });
      return until;
    },
    /** The destination answered: the next failure starts from the base delay again. */
    answered(dataflow: string) {
      holds.delete(dataflow);
    },
    /** The dataflow's consecutive failed sends since its destination last answered. */
    failures(dataflow: string): number {
      return holds.get(dataflow)?.failures ?? 0;
    },
    /** The earliest end of a hold after `now`, if any dataflow is held. */
    nextEnd(now: number): number | undefined {
      let next: number | undefined;
      for (const { until } of holds.values())
        if (until > now && (next === undefined || until < next)) next = until;
      return next;
    },
  };
}

export type DataflowHolds = ReturnType<typeof createDataflowHolds>;

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
