/**
 * The bare compression limit of the export benchmarks (bench/export.ts, bench/support/export-steps.ts):
 * Node's zlib alone on CSV bytes already written, on worker threads.
 */
import { Worker } from "node:worker_threads";
import { timed } from "./measure.ts";

/**
 * The bare compression limit: the file's bytes in 4 MiB blocks (Herald's block size), block k on
 * worker k mod threads, each compressed with zlib.gzipSync. The limit is the busiest worker's time
 * inside gzip; reading the file (page cache) is reported apart, in the wall time.
 */
export async function zlibLimit(file: string, threads: number, level: number) {
  const source = `
    const { parentPort, workerData } = require("node:worker_threads");
    const fs = require("node:fs");
    const zlib = require("node:zlib");
    const { file, index, threads, level, block } = workerData;
    const fd = fs.openSync(file, "r");
    const size = fs.fstatSync(fd).size;
    const buffer = Buffer.allocUnsafe(block);
    let compressNs = 0n, inBytes = 0, outBytes = 0;
    for (let offset = index * block; offset < size; offset += threads * block) {
      const n = fs.readSync(fd, buffer, 0, block, offset);
      const started = process.hrtime.bigint();
      outBytes += zlib.gzipSync(buffer.subarray(0, n), { level }).length;
      compressNs += process.hrtime.bigint() - started;
      inBytes += n;
    }
    fs.closeSync(fd);
    parentPort.postMessage({ compressSeconds: Number(compressNs) / 1e9, inBytes, outBytes });
  `;
  const { value: workers, seconds } = await timed(() =>
    Promise.all(
      Array.from(
        { length: threads },
        (_, index) =>
          new Promise<{ compressSeconds: number; inBytes: number; outBytes: number }>((resolve, reject) => {
            const worker = new Worker(source, {
              eval: true,
              workerData: {
                file,
                index,
                threads,
                level,
                block: 4 << 20,
              },
            });
            worker.once("message", resolve).once("error", reject);
          }),
      ),
    ),
  );
  return {
    wallSeconds: seconds,
    seconds: Math.max(...workers.map((w) => w.compressSeconds)),
    inBytes: workers.reduce((sum, w) => sum + w.inBytes, 0),
    outBytes: workers.reduce((sum, w) => sum + w.outBytes, 0),
  };
}
