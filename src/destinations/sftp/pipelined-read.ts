import type { SftpLink } from "./connect.ts";
import { connectionLost } from "./remote-errors.ts";

const LARGEST_READ_BYTES = 256 * 1024;
const READS_IN_FLIGHT = 16;

/**
 * Reads the first `size` bytes of the open remote file `handle` with many read requests in flight
 * (ssh2's readFile asks for one block at a time: ~5 MB/s on loopback). A short answer is asked
 * again for the rest; an early end of file returns what the file holds.
 */
export async function readPipelined(link: SftpLink, handle: Buffer, size: number): Promise<Buffer> {
  const { sftp } = link;
  if (!link.isOpen()) throw connectionLost(link.where);
  const announced = (sftp as unknown as { _maxReadLen?: unknown })._maxReadLen;
  const chunkBytes = Math.min(
    LARGEST_READ_BYTES,
    typeof announced === "number" && announced > 0 ? announced : 32_000,
  );
  const target = Buffer.allocUnsafe(size);
  const ranges: { start: number; end: number }[] = [];
  for (let start = 0; start < size; start += chunkBytes)
    ranges.push({ start, end: Math.min(size, start + chunkBytes) });
  ranges.reverse(); // popped from the end: lowest offsets first
  let end = size;
  return new Promise((resolve, reject) => {
    let outstanding = 0;
    let failed = false;
    const next = () => {
      if (failed) return;
      while (outstanding < READS_IN_FLIGHT && ranges.length > 0) {
        const range = ranges.pop();
        if (!range || range.start >= end) continue;
        outstanding++;
        const length = Math.min(range.end, end) - range.start;
        sftp.read(handle, target, range.start, length, range.start, (error, bytesRead) => {
          outstanding--;
          // ssh2 reports the end of the file as an error with status 1 (EOF).
          const atEnd = (error && "code" in error && error.code === 1) || (!error && bytesRead === 0);
          if (error && !atEnd) {
            failed = true;
            return reject(error);
          }
          if (atEnd) end = Math.min(end, range.start);
          else if (bytesRead < length) ranges.push({ start: range.start + bytesRead, end: range.end });
          if (outstanding === 0 && ranges.every((r) => r.start >= end))
            return resolve(target.subarray(0, end));
          next();
        });
      }
      if (outstanding === 0) resolve(target.subarray(0, end));
    };
    next();
  });
}
