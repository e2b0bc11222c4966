import type { SFTPWrapper } from "ssh2";
import type { SftpLink } from "./connect.ts";
import { request } from "./remote-errors.ts";

/**
 * putFile flushes the temporary to disk (fsync@openssh.com) before renaming it, and a server that
 * keeps written data in its page cache then writes the whole file at the end: ~2 s for 1 GiB on the
 * benchmark machine, a quarter of the upload, with nothing else moving. A flush on the upload's own
 * channel would not help: OpenSSH's sftp-server answers one request at a time, so the writes would
 * queue behind it. A second SFTP channel is a second server process: it opens the same file and
 * flushes it again and again while the writes go on, so the final flush only has the tail left.
 *
 * Best effort: any failure here (no second channel allowed, no fsync extension, a refused open) only
 * stops the background flushing; the final flush on the upload's channel stays the one that counts.
 */
export interface FlushOptions {
  /** Files smaller than this never open the second channel: their final flush is short. */
  startAfterBytes?: number;
  /** Bytes written between two background flushes. */
  everyBytes?: number;
}

const START_AFTER_BYTES = 16 * 1024 * 1024;
const EVERY_BYTES = 16 * 1024 * 1024;

/** The session's second SFTP channel, opened on first use and shared by its uploads; undefined when refused. */
export interface FlushChannel {
  get(): Promise<{ sftp: SFTPWrapper; isOpen(): boolean; where: string } | undefined>;
  close(): void;
}

export function flushChannel(link: SftpLink): FlushChannel {
  let channel: ReturnType<FlushChannel["get"]> | undefined;
  return {
    get() {
      channel ??= new Promise((resolve) => {
        // No second channel for a server without the extension (ssh2 keeps what the server announced).
        const announced = (link.sftp as unknown as { _extensions?: Record<string, string> })._extensions;
        if (!link.isOpen() || announced?.["fsync@openssh.com"] !== "1") return resolve(undefined);
        try {
          link.client.sftp((error, sftp) => {
            if (error) return resolve(undefined);
            let open = true;
            sftp.once("close", () => {
              open = false;
            });
            resolve({ sftp, where: link.where, isOpen: () => open && link.isOpen() });
          });
        } catch {
          resolve(undefined);
        }
      });
      return channel;
    },
    close() {
      void channel?.then((flusher) => flusher?.sftp.end());
    },
  };
}

/** Background flushing of one file: call `written` as the server acknowledges bytes, `stop` before closing it. */
export interface BackgroundFlush {
  written(bytes: number): void;
  /** Flushes completed so far. */
  flushed(): number;
  /** Waits for the flush in progress, closes the second handle; resolves with the number of flushes done. */
  stop(): Promise<number>;
}

export function backgroundFlush(
  channel: FlushChannel,
  remotePath: string,
  options: FlushOptions = {},
): BackgroundFlush {
  const startAfter = options.startAfterBytes ?? START_AFTER_BYTES;
  const every = options.everyBytes ?? EVERY_BYTES;
  let flusher: Awaited<ReturnType<FlushChannel["get"]>>;
  let handle: Buffer | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;
  let flushedTo = 0;
  let flushes = 0;

  async function flush(to: number) {
    if (!handle) {
      flusher = await channel.get();
      if (!flusher || stopped) throw new Error("no second channel");
      const { sftp } = flusher;
      handle = await request<Buffer>(flusher, (done) => sftp.open(remotePath, "r", done));
    }
    const { sftp } = flusher as NonNullable<typeof flusher>;
    const open = handle;
    await request(flusher as NonNullable<typeof flusher>, (done) => sftp.ext_openssh_fsync(open, done));
    flushes++;
    flushedTo = to;
  }

  return {
    written(bytes) {
      if (stopped || running || bytes - flushedTo < (handle ? every : startAfter)) return;
      running = flush(bytes)
        .catch(() => {
          stopped = true;
        })
        .finally(() => {
          running = undefined;
        });
    },
    flushed: () => flushes,
    async stop() {
      stopped = true;
      await running;
      const open = handle;
      handle = undefined;
      if (open && flusher) {
        const { sftp } = flusher;
        await request(flusher, (done) => sftp.close(open, done)).catch(() => {});
      }
      return flushes;
    },
  };
}
