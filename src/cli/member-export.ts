import fs from "node:fs";
import { Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type MembershipStatus, membersCsv } from "../segments/index.ts";
import type { Store } from "../store/index.ts";
import { progressReporter } from "./progress.ts";

/** Counts the CSV's lines as they pass (the header's included), for the progress line. */
function lineCounter(onLines: (lines: number) => void): Transform {
  let lines = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      onLines(lines);
      done(null, chunk);
    },
  });
}

/**
 * Every member of a segment as CSV (profile_id,status,changed_at), to `file` or stdout, streamed by
 * the store in one query: memory stays flat whatever the count. Writing a file shows progress on
 * stderr; the file is written beside and renamed once complete, so a failed export leaves no
 * partial file under the name asked for.
 */
export async function exportMembers(
  store: Store,
  sandbox: string,
  segmentId: string,
  filter: { statuses?: readonly MembershipStatus[] },
  file?: string,
): Promise<number> {
  const { total, csv } = await membersCsv(store, sandbox, segmentId, filter.statuses);
  const partial = file ? `${file}.partial` : undefined;
  const out: Writable = partial ? fs.createWriteStream(partial) : process.stdout;
  const progress = file ? progressReporter(`exporting ${segmentId} to ${file}`) : undefined;
  let written = 0;
  const counter = lineCounter((lines) => {
    written = Math.max(0, lines - 1);
    progress?.update(written, total);
  });
  try {
    await pipeline(csv, counter, out, { end: Boolean(partial) });
    if (partial && file) fs.renameSync(partial, file);
  } catch (error) {
    if (partial) fs.rmSync(partial, { force: true });
    throw error;
  } finally {
    progress?.stop();
  }
  if (file) process.stderr.write(`${written} members written to ${file}\n`);
  return written;
}
