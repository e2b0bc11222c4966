import { Readable } from "node:stream";

/**
 * One upload's body as an SDK consumes it, counted; aborting `signal` ends the body with the
 * abort's reason, so the SDK stops reading and undoes its side (aborts the multipart upload, never
 * commits the block list) before its promise settles. A failure is reported as its real cause: the
 * abort, the body's own error (the export behind it failed), or else the destination's error as
 * `fail` describes it. Once the SDK has read the whole body, ending it changes nothing: `upload` must
 * then cancel its own requests on `signal` (S3's `writesUntilAborted`), or the file still appears.
 */
export async function trackedUpload<T>(
  body: Readable,
  signal: AbortSignal | undefined,
  upload: (bytes: Readable) => Promise<T>,
  fail: (error: unknown) => unknown,
): Promise<{ result: T; bytes: number }> {
  let bytes = 0;
  let bodyError: { error: unknown } | undefined;
  async function* counted(source: AsyncIterable<Buffer | string>) {
    try {
      for await (const chunk of source) {
        const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
        bytes += buffer.length;
        yield buffer;
      }
    } catch (error) {
      bodyError = { error };
      throw error;
    }
  }
  const onAbort = () => body.destroy(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
  try {
    signal?.throwIfAborted();
    signal?.addEventListener("abort", onAbort, { once: true });
    const result = await upload(Readable.from(counted(body), { objectMode: false }));
    return { result, bytes };
  } catch (error) {
    body.destroy();
    if (signal?.aborted) throw signal.reason;
    if (bodyError) throw bodyError.error;
    throw fail(error);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
