import { describe, expect, it } from "vitest";
import { isRetryable } from "../../errors/index.ts";
import { remoteError, request, SftpStatus } from "./remote-errors.ts";

/** A failed request as ssh2 reports it: the server's words, the status on `code`. */
function status(code: number, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const what = "folderPath '/upload' on sftp.example.com:22";
const codes = { missing: "folder_not_found", denied: "folder_not_writable" };

describe("SFTP request errors", () => {
  it.each([
    ["no such file", status(SftpStatus.NO_SUCH_FILE, "No such file"), "not_found", "folder_not_found"],
    [
      "permission denied",
      status(SftpStatus.PERMISSION_DENIED, "Permission denied"),
      "forbidden",
      "folder_not_writable",
    ],
    ["write-protected", status(SftpStatus.WRITE_PROTECT, "Read-only"), "forbidden", "folder_not_writable"],
    [
      "a full disk",
      status(SftpStatus.NO_SPACE_ON_FILESYSTEM, "No space"),
      "payload_too_large",
      "sftp_disk_full",
    ],
    [
      "a full disk in words (version 3)",
      status(SftpStatus.FAILURE, "No space left on device"),
      "payload_too_large",
      "sftp_disk_full",
    ],
    ["a quota", status(SftpStatus.QUOTA_EXCEEDED, "Quota"), "payload_too_large", "sftp_quota_exceeded"],
    [
      "a quota in words",
      status(SftpStatus.FAILURE, "Disk quota exceeded"),
      "payload_too_large",
      "sftp_quota_exceeded",
    ],
    ["a path too long", status(SftpStatus.BAD_MESSAGE, "Bad message"), "validation", "sftp_bad_message"],
    [
      "an unsupported request",
      status(SftpStatus.OP_UNSUPPORTED, "Operation unsupported"),
      "validation",
      "sftp_unsupported",
    ],
    [
      "a name the server refuses",
      status(SftpStatus.INVALID_FILENAME, "Invalid filename"),
      "validation",
      "sftp_request_refused",
    ],
    [
      "an existing file",
      status(SftpStatus.FILE_ALREADY_EXISTS, "File exists"),
      "conflict",
      "sftp_file_exists",
    ],
    [
      "an unnamed failure (an I/O error)",
      status(SftpStatus.FAILURE, "Failure"),
      "unavailable",
      "sftp_request_failed",
    ],
    [
      "a lost connection",
      status(SftpStatus.CONNECTION_LOST, "Connection lost"),
      "unavailable",
      "sftp_request_failed",
    ],
    [
      "a lock held by another",
      status(SftpStatus.LOCK_CONFLICT, "Lock conflict"),
      "unavailable",
      "sftp_request_failed",
    ],
    [
      "no answer (ssh2, connection closed)",
      new Error("No response from server"),
      "unavailable",
      "sftp_connection_lost",
    ],
  ] as const)("classes %s", (_, error, kind, code) => {
    const classed = remoteError(error, what, codes);
    expect(classed).toMatchObject({ kind, code, message: expect.stringContaining(what) });
    expect(isRetryable(classed)).toBe(kind === "unavailable");
    expect(classed.message).not.toBe(`${what}: No response from server`);
  });

  it("names the host when ssh2 answers a request with its bare 'No response from server'", async () => {
    const link = { isOpen: () => true, where: "sftp.example.com:22" };
    const failed = request(link, (callback) => callback(new Error("No response from server"), undefined));
    await expect(failed).rejects.toMatchObject({
      kind: "unavailable",
      code: "sftp_connection_lost",
      message: "The SFTP connection to sftp.example.com:22 was closed",
    });
  });
});
