import { type KeyProvider, verifyKeyRoundTrip } from "../crypto/index.ts";
import { loadSchema } from "../schema/index.ts";
import { listSandboxes, type Store } from "../store/index.ts";
import { evaluateSegments, type SegmentEvaluation } from "./memberships.ts";
import { invalidSegmentError, isInvalidSegment, listStoredSegments } from "./segments.ts";

/** Told after each segment's evaluation (activation starts its "after evaluation" exports). */
export type EvaluationListener = (segmentId: string) => unknown;

/**
 * Evaluates segments in one shared pass, then tells the listener about each. A listener's failure
 * (an export that cannot start) never undoes the evaluation: it is reported through `onError`.
 * With `keys`, the key sealing data at rest is asked first (a wrap and an unwrap): a revoked
 * customer-managed key stops segmentation (REFERENCE), with its `key_unavailable` error.
 */
export async function evaluateAndNotify(
  store: Store,
  sandbox: string,
  segmentIds: readonly string[],
  options: {
    onEvaluated?: EvaluationListener | undefined;
    onError?: (error: unknown, segmentId: string) => void;
    now?: Date;
    keys?: KeyProvider;
  } = {},
): Promise<SegmentEvaluation[]> {
  if (!segmentIds.length) return [];
  if (options.keys) await verifyKeyRoundTrip(options.keys);
  const schema = await loadSchema(store, sandbox);
  const evaluations = await evaluateSegments(store, sandbox, schema, segmentIds, options.now);
  for (const evaluation of evaluations) {
    try {
      await options.onEvaluated?.(evaluation.segmentId);
    } catch (error) {
      options.onError?.(error, evaluation.segmentId);
    }
  }
  return evaluations;
}

/** The latest daily instant `time` (HH:MM, UTC) at or before `now`. */
export function latestDailyInstant(time: string, now: Date): Date {
  const [hours, minutes] = time.split(":").map(Number) as [number, number];
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), hours, minutes);
  return new Date(today <= now.getTime() ? today : today - 86_400_000);
}

export interface EvaluationSchedulerOptions {
  /** Daily evaluation time, HH:MM in UTC. */
  time: string;
  onEvaluated?: (sandbox: string, segmentId: string) => unknown;
  onError?: (error: unknown, context: { sandbox: string; segmentId?: string }) => void;
  now?: () => Date;
  /** How often to look (default one minute). */
  tickMs?: number;
  /** The key sealing data at rest, asked before each pass (evaluateAndNotify's `keys`). */
  keys?: KeyProvider;
}

/**
 * Daily batch evaluation. Restart-safe without its own bookkeeping: a segment is due when it was
 * last evaluated (or created) before the latest daily instant, so an evaluation missed while Herald
 * was down happens at start, once.
 */
export function createEvaluationScheduler(store: Store, options: EvaluationSchedulerOptions) {
  const now = options.now ?? (() => new Date());
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  /** The daily instant each invalid segment was last reported for: once a day, not every tick. */
  const reportedInvalid = new Map<string, number>();

  async function tick(): Promise<SegmentEvaluation[]> {
    const at = now();
    const instant = latestDailyInstant(options.time, at);
    const done: SegmentEvaluation[] = [];
    for (const { name: sandbox } of await listSandboxes(store)) {
      const due = (await listStoredSegments(store, sandbox)).filter(
        (s) => (s.lastEvaluatedAt ?? s.createdAt).getTime() < instant.getTime(),
      );
      for (const s of due.filter(isInvalidSegment)) {
        const key = JSON.stringify([sandbox, s.id]);
        if (reportedInvalid.get(key) === instant.getTime()) continue;
        reportedInvalid.set(key, instant.getTime());
        options.onError?.(invalidSegmentError(s.id, s.invalid), { sandbox, segmentId: s.id });
      }
      try {
        done.push(
          ...(await evaluateAndNotify(
            store,
            sandbox,
            due.filter((s) => !isInvalidSegment(s)).map((s) => s.id),
            {
              onEvaluated: (segmentId) => options.onEvaluated?.(sandbox, segmentId),
              onError: (error, segmentId) => options.onError?.(error, { sandbox, segmentId }),
              now: at,
              ...(options.keys ? { keys: options.keys } : {}),
            },
          )),
        );
      } catch (error) {
        options.onError?.(error, { sandbox });
      }
    }
    return done;
  }

  return {
    tick,
    start() {
      const loop = () => {
        running ??= tick()
          .catch((error: unknown) => options.onError?.(error, { sandbox: "*" }))
          .finally(() => {
            running = undefined;
          });
      };
      loop();
      timer = setInterval(loop, options.tickMs ?? 60_000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}

export type EvaluationScheduler = ReturnType<typeof createEvaluationScheduler>;
