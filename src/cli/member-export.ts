import { once } from "node:events";
import fs from "node:fs";
import type { Writable } from "node:stream";
import { listMembers, type MembershipStatus } from "../segments/index.ts";
import type { Executor } from "../store/index.ts";
import { progressReporter } from "./progress.ts";

/** The largest page the segments part lists: one page in memory at a time, whatever the count. */
const PAGE_SIZE = 10_000;

/** A CSV field, quoted when it holds the delimiter, a quote or a line break (RFC 4180). */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Writes one chunk, waiting while the stream's buffer is full (a slow pipe or disk). */
async function write(out: Writable, chunk: string) {
  if (!out.write(chunk)) await once(out, "drain");
}

/**
 * Every member of a segment as CSV (profile_id,status,changed_at), to `file` or stdout, page after
 * page of the segments part's listing (by profile id): memory holds one page whatever the count.
 * Writing a file shows progress on stderr; the file is written beside and renamed once complete,
 * so a failed export leaves no partial file under the name asked for.
 */
export async function exportMembers(
  db: Executor,
  sandbox: string,
  segmentId: string,
  filter: { statuses?: readonly MembershipStatus[] },
  file?: string,
): Promise<number> {
  const partial = file ? `${file}.partial` : undefined;
  const out = partial ? fs.createWriteStream(partial) : process.stdout;
  const progress = file ? progressReporter(`exporting ${segmentId} to ${file}`) : undefined;
  let written = 0;
  try {
    await write(out, "profile_id,status,changed_at\n");
    for (;;) {
      const page = await listMembers(db, sandbox, segmentId, {
        ...filter,
        limit: PAGE_SIZE,
        offset: written,
      });
      const lines = page.members.map(
        (m) => `${csvField(m.profileId)},${m.status},${m.changedAt.toISOString()}\n`,
      );
      if (lines.length) await write(out, lines.join(""));
      written += page.members.length;
      progress?.update(written, page.total);
      if (page.members.length < PAGE_SIZE) break;
    }
    if (partial && file) {
      out.end();
      await once(out, "finish");
      fs.renameSync(partial, file);
    }
  } catch (error) {
    if (partial) {
      out.destroy();
      fs.rmSync(partial, { force: true });
    }
    throw error;
  } finally {
    progress?.stop();
  }
  if (file) process.stderr.write(`${written} members written to ${file}\n`);
  return written;
}
