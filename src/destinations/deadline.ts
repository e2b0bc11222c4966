/**
 * Runs `work` with a signal that aborts after `ms` (with a TimeoutError, as `AbortSignal.timeout`
 * does) or as soon as `outer` aborts, and clears its timer once `work` settles.
 *
 * Why not `AbortSignal.any([outer, AbortSignal.timeout(ms)])`: a timeout signal's timer runs to its
 * end even when the work finished long before, then builds a DOMException and dispatches an abort;
 * at 10,000 events/s that was ~1% of Herald's main thread (docs/benchmarks.md). `AbortSignal.any`
 * also keeps every combined signal registered on its sources until they are collected.
 */
export async function withDeadline<T>(
  ms: number,
  outer: AbortSignal | undefined,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")),
    ms,
  );
  timer.unref();
  const forward = () => controller.abort(outer?.reason);
  if (outer?.aborted) forward();
  else outer?.addEventListener("abort", forward, { once: true });
  try {
    return await work(controller.signal);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", forward);
  }
}
