import type { SFTPWrapper } from "ssh2";
import type { SftpLink } from "./connect.ts";
import { connectionLost } from "./remote-errors.ts";

/**
 * One SFTP write request waits a round trip for its answer, so a single request in flight (ssh2's
 * createWriteStream) moves ~2 MB/s even on loopback; fastPut's 64 requests of 32 KiB reach
 * ~250 MB/s there (DESIGN.md). In Node the cost per request dominates next, so requests are as
 * large as the server accepts (OpenSSH announces 255 KiB through its limits extension; ssh2 falls
 * back to ~32 KiB for servers that announce nothing), with ~4 MiB in flight.
 */
const LARGEST_WRITE_BYTES = 256 * 1024;
const BYTES_IN_FLIGHT = 4 * 1024 * 1024;

/** The write size this server accepts (ssh2 learns it when the channel opens) and how many to keep in flight. */
export function writeShape(sftp: SFTPWrapper): { chunkBytes: number; inFlight: number } {
  const announced = (sftp as unknown as { _maxWriteLen?: unknown })._maxWriteLen;
  const chunkBytes = Math.min(
    LARGEST_WRITE_BYTES,
    typeof announced === "number" && announced > 0 ? announced : 32_000,
  );
  return { chunkBytes, inFlight: Math.max(16, Math.min(64, Math.floor(BYTES_IN_FLIGHT / chunkBytes))) };
}

/**
 * Streams `body` into the open remote file `handle` with up to `inFlight` write requests
 * outstanding; reading from `body` pauses while that many wait (back-pressure on the source).
 * `onWritten` hears the bytes acknowledged so far after each acknowledged request.
 * Resolves with the bytes written once every request is acknowledged. On a failed request or a
 * failing body it stops reading, waits for the requests already sent, then rejects with the first error.
 */
export async function writePipelined(
  link: SftpLink,
  handle: Buffer,
  body: AsyncIterable<Buffer | string | Uint8Array>,
  options: { chunkBytes?: number; inFlight?: number; onWritten?: (bytes: number) => void } = {},
): Promise<number> {
  const { sftp } = link;
  const shape = writeShape(sftp);
  const chunkBytes = options.chunkBytes ?? shape.chunkBytes;
  const maxInFlight = options.inFlight ?? shape.inFlight;
  const onWritten = options.onWritten;
  let offset = 0;
  let acknowledged = 0;
  let outstanding = 0;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const settle = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const until = async (ready: () => boolean) => {
    while (!ready()) await new Promise<void>((resolve) => (wake = resolve));
  };

  const send = async (chunk: Buffer) => {
    await until(() => outstanding < maxInFlight || failure !== undefined);
    if (failure) throw failure.error;
    if (!link.isOpen()) throw connectionLost(link.where);
    outstanding++;
    sftp.write(handle, chunk, 0, chunk.length, offset, (error) => {
      outstanding--;
      if (error) failure ??= { error };
      else {
        acknowledged += chunk.length;
        onWritten?.(acknowledged);
      }
      settle();
    });
    offset += chunk.length;
  };

  // Pieces of a full request or more go out without a copy, cut into equal requests of at most
  // chunkBytes (a 1 MiB read: 5 of 205 KiB, where full requests would leave 4 KiB to glue onto the
  // next read); smaller ones (CSV lines, 64 KiB reads) are gathered into full requests.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const sendPending = async () => {
    const gathered = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await send(gathered);
  };
  try {
    for await (const piece of body) {
      const chunk =
        typeof piece === "string" ? Buffer.from(piece) : Buffer.isBuffer(piece) ? piece : Buffer.from(piece);
      if (chunk.length >= chunkBytes) {
        if (pendingBytes > 0) await sendPending();
        const parts = Math.ceil(chunk.length / chunkBytes);
        let position = 0;
        for (let part = 1; part <= parts; part++) {
          const end = Math.round((chunk.length * part) / parts);
          await send(chunk.subarray(position, end));
          position = end;
        }
        continue;
      }
      if (chunk.length === 0) continue;
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= chunkBytes) {
        const gathered = Buffer.concat(pending, pendingBytes);
        pending = pendingBytes > chunkBytes ? [gathered.subarray(chunkBytes)] : [];
        pendingBytes -= chunkBytes;
        await send(gathered.subarray(0, chunkBytes));
      }
    }
    if (pendingBytes > 0) await sendPending();
  } finally {
    // Never leave requests running against a handle the caller is about to close.
    await until(() => outstanding === 0);
  }
  if (failure) throw failure.error;
  return offset;
}
