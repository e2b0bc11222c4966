import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";

/** Random bytes: a file whose every byte matters when compared after a round trip. */
export const randomFile = (bytes: number): Buffer => randomBytes(bytes);

/** A body that yields `data` in chunks of `chunkBytes`, as a file read or an export would. */
export function bodyOf(data: Buffer, chunkBytes = 64 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      const end = Math.min(offset + chunkBytes, data.length);
      this.push(data.subarray(offset, end));
      offset = end;
    },
  });
}

/** A body whose source fails after `failAfter` bytes: an upload killed halfway. */
export function failingBody(data: Buffer, failAfter: number, chunkBytes = 64 * 1024): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= failAfter) {
        this.destroy(new Error("source failed halfway"));
        return;
      }
      const end = Math.min(offset + chunkBytes, failAfter, data.length);
      this.push(data.subarray(offset, end));
      offset = end;
    },
  });
}

/**
 * A body that stops after `pauseAt` bytes until `resume()`: lets a test look at the destination in
 * the middle of an upload, or abort it there. `paused` resolves once the first part was consumed.
 */
export function pausingBody(data: Buffer, pauseAt: number, chunkBytes = 64 * 1024) {
  let offset = 0;
  let resumed = false;
  let reportPaused: () => void = () => {};
  const paused = new Promise<void>((resolve) => {
    reportPaused = resolve;
  });
  const pushNext = (stream: Readable) => {
    if (offset >= pauseAt && !resumed) {
      reportPaused();
      return; // nothing pushed: the consumer waits until resume()
    }
    if (offset >= data.length) {
      stream.push(null);
      return;
    }
    const end = Math.min(offset + chunkBytes, resumed ? data.length : pauseAt);
    stream.push(data.subarray(offset, end));
    offset = end;
  };
  const stream = new Readable({
    highWaterMark: chunkBytes,
    read() {
      pushNext(this);
    },
  });
  return {
    stream,
    paused,
    /** Bytes handed to the consumer so far. */
    consumed: () => offset,
    resume() {
      resumed = true;
      pushNext(stream);
    },
  };
}
