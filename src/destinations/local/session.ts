import { createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HeraldError } from "../../errors/index.ts";
import { assertPlainFileName, isStaleTemporary, isTemporaryName, temporaryName } from "../temporary-names.ts";
import type { FileSession, PutResult } from "../types.ts";
import { errorCode, fileSystemError } from "./folder.ts";

/** A session on one resolved folder: uploads go to a temporary, are flushed to disk, then renamed. */
export function openLocalSession(folder: string): FileSession {
  // Temporaries of this session's uploads in progress: cleanup never touches them.
  const uploading = new Set<string>();
  const inFolder = (name: string) => `'${name}' in ${folder}`;

  async function putFile(name: string, body: Readable, options: { signal?: AbortSignal } = {}) {
    assertPlainFileName(name);
    const { signal } = options;
    const temporary = path.join(folder, temporaryName(name));
    const target = path.join(folder, name);
    let bytes = 0;
    let bodyError: { error: unknown } | undefined;
    uploading.add(temporary);
    try {
      signal?.throwIfAborted();
      await pipeline(
        body,
        async function* count(source: AsyncIterable<Buffer | string>) {
          try {
            for await (const chunk of source) {
              bytes += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
              yield chunk;
            }
          } catch (error) {
            bodyError = { error };
            throw error;
          }
        },
        // `flush`: the data reaches the disk before the rename, so a crash cannot leave a complete
        // name over missing bytes.
        createWriteStream(temporary, { flags: "wx", flush: true }),
        signal ? { signal } : {},
      );
      await fs.rename(temporary, target);
      await syncDirectory(folder);
      return { location: target, bytes } satisfies PutResult;
    } catch (error) {
      body.destroy();
      await fs.rm(temporary, { force: true }).catch(() => {});
      if (signal?.aborted) throw signal.reason;
      if (bodyError) throw bodyError.error;
      if (error instanceof HeraldError) throw error;
      throw fileSystemError(error, `Writing ${inFolder(name)}`);
    } finally {
      uploading.delete(temporary);
    }
  }

  return {
    putFile,
    async getFile(name) {
      assertPlainFileName(name);
      return fs.readFile(path.join(folder, name)).catch((error: unknown) => {
        throw errorCode(error) === "ENOENT"
          ? new HeraldError("not_found", "file_not_found", `File ${inFolder(name)} does not exist`)
          : fileSystemError(error, `File ${inFolder(name)}`);
      });
    },
    async listFiles() {
      const entries = await fs.readdir(folder, { withFileTypes: true }).catch((error: unknown) => {
        throw fileSystemError(error, folder);
      });
      return entries
        .filter((entry) => entry.isFile() && !isTemporaryName(entry.name))
        .map((entry) => entry.name)
        .sort();
    },
    async deleteFile(name) {
      assertPlainFileName(name);
      await fs.rm(path.join(folder, name), { force: true }).catch((error: unknown) => {
        throw fileSystemError(error, `Deleting ${inFolder(name)}`);
      });
      await syncDirectory(folder);
    },
    async cleanupTemporaries() {
      const now = new Date();
      let removed = 0;
      for (const name of await fs.readdir(folder)) {
        const file = path.join(folder, name);
        if (!isTemporaryName(name) || uploading.has(file)) continue;
        const stats = await fs.lstat(file).catch(() => undefined);
        if (!stats?.isFile() || !isStaleTemporary(name, stats.mtime, now)) continue;
        await fs.rm(file, { force: true });
        removed++;
      }
      return removed;
    },
    async close() {},
  };
}

/** Makes a rename durable: the directory entry itself is flushed (best effort where unsupported). */
async function syncDirectory(folder: string): Promise<void> {
  const directory = await fs.open(folder, "r").catch(() => undefined);
  if (!directory) return;
  await directory.sync().catch(() => {});
  await directory.close();
}
