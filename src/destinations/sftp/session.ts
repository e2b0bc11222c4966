import path from "node:path";
import { addAbortSignal, type Readable } from "node:stream";
import type { Stats } from "ssh2";
import { HeraldError } from "../../errors/index.ts";
import { assertPlainFileName, isStaleTemporary, isTemporaryName, temporaryName } from "../temporary-names.ts";
import type { FileSession, PutResult } from "../types.ts";
import { backgroundFlush, flushChannel } from "./background-flush.ts";
import { connectSftp, type SftpLink } from "./connect.ts";
import { readPipelined } from "./pipelined-read.ts";
import { writePipelined } from "./pipelined-write.ts";
import { isUnsupportedExtension, remoteError, request } from "./remote-errors.ts";
import type { SftpConnection, SftpDetails } from "./schemas.ts";

const folderCodes = { missing: "folder_not_found", denied: "folder_not_writable" };

/** The configured folder, resolved to an absolute path on the server, and how messages name it. */
export interface RemoteFolder {
  path: string;
  what: string;
}

/** Resolves `folderPath` (the login folder when empty); `not_found` naming it when it is missing or a file. */
export async function resolveRemoteFolder(link: SftpLink, details: SftpDetails): Promise<RemoteFolder> {
  const folderPath = details.folderPath || ".";
  const what = details.folderPath
    ? `folderPath '${details.folderPath}' on ${link.where}`
    : `the login folder on ${link.where}`;
  try {
    const absolute = await request<string>(link, (done) => link.sftp.realpath(folderPath, done));
    const stats = await request<Stats>(link, (done) => link.sftp.stat(absolute, done));
    if (!stats.isDirectory()) {
      throw new HeraldError("not_found", "folder_not_found", `${what} is a file, not a folder`);
    }
    return { path: absolute, what };
  } catch (error) {
    throw remoteError(error, what, folderCodes);
  }
}

/** Proves the folder is writable the way deliveries use it: create, then remove, a temporary. */
export async function checkRemoteWritable(link: SftpLink, folder: RemoteFolder): Promise<void> {
  const { sftp } = link;
  const probe = path.posix.join(folder.path, temporaryName("write-check"));
  try {
    const handle = await request<Buffer>(link, (done) => sftp.open(probe, "wx", done));
    await request(link, (done) => sftp.close(handle, done));
    await request(link, (done) => sftp.unlink(probe, done));
  } catch (error) {
    throw remoteError(error, `Writing to ${folder.what}`, folderCodes);
  }
}

/** Opens an SSH connection for a run's uploads into the configured folder. */
export async function openSftpSession(
  connection: SftpConnection,
  details: SftpDetails,
): Promise<FileSession> {
  const link = await connectSftp(connection);
  try {
    return sftpSession(link, await resolveRemoteFolder(link, details));
  } catch (error) {
    link.client.end();
    throw error;
  }
}

function sftpSession(link: SftpLink, folder: RemoteFolder): FileSession {
  const { sftp } = link;
  const inFolder = (name: string) => `'${name}' in ${folder.what}`;
  // Temporaries of this session's uploads in progress: cleanup never touches them.
  const uploading = new Set<string>();
  let posixRename = true;
  // A second channel flushes large uploads to disk while they are written (background-flush.ts).
  const flushes = flushChannel(link);

  /** Replaces `target` by `temporary` in one step where the server allows it (OpenSSH does). */
  async function renameOver(temporary: string, target: string): Promise<void> {
    if (posixRename) {
      try {
        await request(link, (done) => sftp.ext_openssh_rename(temporary, target, done));
        return;
      } catch (error) {
        if (!isUnsupportedExtension(error)) throw error;
        posixRename = false;
      }
    }
    // Plain SFTP rename refuses an existing target: remove it first (readers briefly see no file).
    try {
      await request(link, (done) => sftp.rename(temporary, target, done));
    } catch (error) {
      const exists = await request<Stats>(link, (done) => sftp.stat(target, done)).then(
        () => true,
        () => false,
      );
      if (!exists) throw error;
      await request(link, (done) => sftp.unlink(target, done));
      await request(link, (done) => sftp.rename(temporary, target, done));
    }
  }

  async function putFile(name: string, body: Readable, options: { signal?: AbortSignal } = {}) {
    assertPlainFileName(name);
    const { signal } = options;
    const temporary = path.posix.join(folder.path, temporaryName(name));
    const target = path.posix.join(folder.path, name);
    let handle: Buffer | undefined;
    let bodyError: { error: unknown } | undefined;
    async function* source() {
      try {
        yield* signal ? addAbortSignal(signal, body) : body;
      } catch (error) {
        bodyError = { error };
        throw error;
      }
    }
    const flushing = backgroundFlush(flushes, temporary);
    uploading.add(temporary);
    try {
      signal?.throwIfAborted();
      handle = await request<Buffer>(link, (done) => sftp.open(temporary, "wx", done));
      const openHandle = handle;
      const bytes = await writePipelined(link, openHandle, source(), { onWritten: flushing.written });
      // Durable before visible: flush where the server offers it (OpenSSH's fsync extension).
      await request(link, (done) => sftp.ext_openssh_fsync(openHandle, done)).catch((error: unknown) => {
        if (!isUnsupportedExtension(error)) throw error;
      });
      await flushing.stop();
      handle = undefined;
      await request(link, (done) => sftp.close(openHandle, done));
      const stored = await request<Stats>(link, (done) => sftp.stat(temporary, done));
      if (stored.size !== bytes) {
        throw new HeraldError(
          "unavailable",
          "sftp_size_mismatch",
          `The server stored ${stored.size} bytes of ${inFolder(name)} instead of the ${bytes} sent`,
        );
      }
      await renameOver(temporary, target);
      return { location: target, bytes } satisfies PutResult;
    } catch (error) {
      body.destroy();
      await flushing.stop();
      const openHandle = handle;
      if (openHandle) await request(link, (done) => sftp.close(openHandle, done)).catch(() => {});
      await request(link, (done) => sftp.unlink(temporary, done)).catch(() => {});
      if (signal?.aborted) throw signal.reason;
      if (bodyError) throw bodyError.error;
      throw remoteError(error, `Uploading ${inFolder(name)}`, folderCodes);
    } finally {
      uploading.delete(temporary);
    }
  }

  async function entries() {
    try {
      return await request<{ filename: string; attrs: Stats }[]>(link, (done) =>
        sftp.readdir(folder.path, done),
      );
    } catch (error) {
      throw remoteError(error, folder.what, folderCodes);
    }
  }

  return {
    putFile,
    async getFile(name) {
      assertPlainFileName(name);
      try {
        const handle = await request<Buffer>(link, (done) =>
          sftp.open(path.posix.join(folder.path, name), "r", done),
        );
        try {
          const stats = await request<Stats>(link, (done) => sftp.fstat(handle, done));
          return await readPipelined(link, handle, stats.size);
        } finally {
          await request(link, (done) => sftp.close(handle, done)).catch(() => {});
        }
      } catch (error) {
        throw remoteError(error, `File ${inFolder(name)}`, {
          missing: "file_not_found",
          denied: "file_not_readable",
        });
      }
    },
    async listFiles() {
      return (await entries())
        .filter((entry) => entry.attrs.isFile() && !isTemporaryName(entry.filename))
        .map((entry) => entry.filename)
        .sort();
    },
    async deleteFile(name) {
      assertPlainFileName(name);
      try {
        await request(link, (done) => sftp.unlink(path.posix.join(folder.path, name), done));
      } catch (error) {
        const failure = remoteError(error, `Deleting ${inFolder(name)}`, {
          missing: "file_not_found",
          denied: "file_not_deletable",
        });
        if (failure instanceof HeraldError && failure.kind === "not_found") return;
        throw failure;
      }
    },
    async cleanupTemporaries() {
      const now = new Date();
      let removed = 0;
      for (const entry of await entries()) {
        const file = path.posix.join(folder.path, entry.filename);
        if (!entry.attrs.isFile() || uploading.has(file)) continue;
        if (!isStaleTemporary(entry.filename, new Date(entry.attrs.mtime * 1000), now)) continue;
        await request(link, (done) => sftp.unlink(file, done)).then(
          () => removed++,
          () => {}, // already gone (another session cleaned it), or not ours to remove
        );
      }
      return removed;
    },
    async close() {
      flushes.close();
      await closeLink(link);
    },
  };
}

/** Ends the SFTP channel and the SSH connection, waiting (briefly) for the socket to close. */
export async function closeLink(link: SftpLink): Promise<void> {
  if (!link.isOpen()) {
    link.client.end();
    return;
  }
  const closed = new Promise<void>((resolve) => {
    link.client.once("close", () => resolve());
    setTimeout(resolve, 2_000).unref();
  });
  link.sftp.end();
  link.client.end();
  await closed;
}
