import { promisify } from "node:util";
import zlib from "node:zlib";

const gzip = promisify(zlib.gzip);

/**
 * Compresses a byte stream in independent blocks on libuv's thread pool, several at a time, and
 * yields them in order. Concatenated gzip members form one valid gzip file (RFC 1952 §2.2) that
 * every gunzip reads whole, so compression uses every core while the bytes stay in order, as pigz
 * does. Each block costs a few bytes of header and a fresh dictionary: under 0.1% at 4 MiB.
 */
export async function* gzipInParallel(
  source: AsyncIterable<Buffer>,
  options: { level?: number; blockBytes?: number; concurrency?: number } = {},
): AsyncGenerator<Buffer> {
  const level = options.level ?? 1;
  const blockBytes = options.blockBytes ?? 4 << 20;
  const concurrency = options.concurrency ?? 4;
  const pending: Promise<Buffer>[] = [];
  let parts: Buffer[] = [];
  let size = 0;
  const flush = () => {
    if (size === 0) return;
    const block = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size);
    pending.push(gzip(block, { level }));
    parts = [];
    size = 0;
  };
  for await (const chunk of source) {
    parts.push(chunk);
    size += chunk.length;
    if (size >= blockBytes) flush();
    while (pending.length >= concurrency) yield await (pending.shift() as Promise<Buffer>);
  }
  flush();
  while (pending.length) yield await (pending.shift() as Promise<Buffer>);
}
