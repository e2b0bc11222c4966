import { HeraldError } from "../../errors/index.ts";

/**
 * SFTP status codes that ssh2 puts on `error.code` (draft-ietf-secsh-filexfer-13 §9.1). OpenSSH
 * speaks version 3 and sends only 0-8: a name too long is BAD_MESSAGE there, and a full disk, like
 * most other errors, FAILURE with the server's words.
 */
export const SftpStatus = {
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
  INVALID_HANDLE: 9,
  NO_SUCH_PATH: 10,
  FILE_ALREADY_EXISTS: 11,
  WRITE_PROTECT: 12,
  NO_MEDIA: 13,
  NO_SPACE_ON_FILESYSTEM: 14,
  QUOTA_EXCEEDED: 15,
  UNKNOWN_PRINCIPAL: 16,
  LOCK_CONFLICT: 17,
  DIR_NOT_EMPTY: 18,
  NOT_A_DIRECTORY: 19,
  INVALID_FILENAME: 20,
  LINK_LOOP: 21,
  CANNOT_DELETE: 22,
  INVALID_PARAMETER: 23,
  FILE_IS_A_DIRECTORY: 24,
  BYTE_RANGE_LOCK_CONFLICT: 25,
  BYTE_RANGE_LOCK_REFUSED: 26,
  DELETE_PENDING: 27,
  FILE_CORRUPT: 28,
  OWNER_INVALID: 29,
  GROUP_INVALID: 30,
  NO_MATCHING_BYTE_RANGE_LOCK: 31,
} as const;

/** What ssh2 answers every request still waiting when the connection closes. */
const NO_RESPONSE = "No response from server";

export function sftpStatus(error: unknown): number | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "number" ? error.code : undefined;
}

/**
 * Turns a failed SFTP request into a HeraldError naming `what` (a folder or file, with its setting
 * and host). Only what may pass with time is `unavailable`, which the export retries for minutes: a
 * lost connection, a lock held by someone else, an unnamed FAILURE (OpenSSH's word for an I/O
 * error, among others). A missing path, a refusal, a full disk or quota, a request the server
 * finds malformed (a name too long) or does not support fail at once.
 */
export function remoteError(
  error: unknown,
  what: string,
  code: { missing: string; denied: string },
): HeraldError {
  if (error instanceof HeraldError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const diskFull = () =>
    new HeraldError("payload_too_large", "sftp_disk_full", `${what}: the server's disk is full (${message})`);
  const quotaExceeded = () =>
    new HeraldError(
      "payload_too_large",
      "sftp_quota_exceeded",
      `${what}: the account's disk quota on the server is exceeded (${message})`,
    );
  const refused = (errorCode: string, why: string) =>
    new HeraldError("validation", errorCode, `${what}: ${why} (${message})`);
  const status = sftpStatus(error);
  switch (status) {
    case SftpStatus.NO_SUCH_FILE:
    case SftpStatus.NO_SUCH_PATH:
      return new HeraldError("not_found", code.missing, `${what} does not exist`);
    case SftpStatus.PERMISSION_DENIED:
    case SftpStatus.WRITE_PROTECT:
    case SftpStatus.CANNOT_DELETE:
      return new HeraldError("forbidden", code.denied, `${what}: permission denied`);
    case SftpStatus.NO_SPACE_ON_FILESYSTEM:
      return diskFull();
    case SftpStatus.QUOTA_EXCEEDED:
      return quotaExceeded();
    case SftpStatus.FAILURE:
      // Servers that speak version 3 can only say it in words.
      if (/no space|disk (is )?full/i.test(message)) return diskFull();
      if (/quota/i.test(message)) return quotaExceeded();
      return new HeraldError(
        "unavailable",
        "sftp_request_failed",
        `${what}: the server failed the request (${message})`,
      );
    case SftpStatus.BAD_MESSAGE:
      return refused("sftp_bad_message", "the server refused the request as malformed (a path too long?)");
    case SftpStatus.OP_UNSUPPORTED:
      return refused("sftp_unsupported", "the server does not support this operation");
    case SftpStatus.FILE_ALREADY_EXISTS:
      return new HeraldError("conflict", "sftp_file_exists", `${what}: the file already exists (${message})`);
    case SftpStatus.INVALID_FILENAME:
    case SftpStatus.INVALID_PARAMETER:
    case SftpStatus.NOT_A_DIRECTORY:
    case SftpStatus.FILE_IS_A_DIRECTORY:
    case SftpStatus.DIR_NOT_EMPTY:
    case SftpStatus.LINK_LOOP:
    case SftpStatus.UNKNOWN_PRINCIPAL:
    case SftpStatus.OWNER_INVALID:
    case SftpStatus.GROUP_INVALID:
    case SftpStatus.FILE_CORRUPT:
      return refused("sftp_request_refused", "the server refused the request");
    case SftpStatus.NO_CONNECTION:
    case SftpStatus.CONNECTION_LOST:
    case SftpStatus.NO_MEDIA:
    case SftpStatus.INVALID_HANDLE:
    case SftpStatus.LOCK_CONFLICT:
    case SftpStatus.BYTE_RANGE_LOCK_CONFLICT:
    case SftpStatus.BYTE_RANGE_LOCK_REFUSED:
    case SftpStatus.NO_MATCHING_BYTE_RANGE_LOCK:
    case SftpStatus.DELETE_PENDING:
      return new HeraldError("unavailable", "sftp_request_failed", `${what}: ${message}`);
    default:
      if (message === NO_RESPONSE) {
        return new HeraldError(
          "unavailable",
          "sftp_connection_lost",
          `${what}: the connection closed before the server answered`,
        );
      }
      // Not an SFTP status: a local error (a stream's, a socket's), worth a retry.
      return new HeraldError("unavailable", "sftp_request_failed", `${what}: ${message}`);
  }
}

/** ssh2 refuses (synchronously) an OpenSSH extension the server did not announce. */
export function isUnsupportedExtension(error: unknown): boolean {
  return error instanceof Error && /does not support this extended request/.test(error.message);
}

/** The connection dropped (network, server restart, keepalive timeout): worth a retry. */
export function connectionLost(where: string): HeraldError {
  return new HeraldError("unavailable", "sftp_connection_lost", `The SFTP connection to ${where} was closed`);
}

/**
 * Calls one callback-style SFTP request on `link` and resolves with its result. A closed link
 * rejects at once: ssh2 would accept the request and never answer it.
 */
export function request<T = void>(
  link: { isOpen(): boolean; where: string },
  send: (callback: (error: Error | null | undefined, value: T) => void) => void,
): Promise<T> {
  if (!link.isOpen()) return Promise.reject(connectionLost(link.where));
  return new Promise((resolve, reject) => {
    try {
      // ssh2's bare "No response from server": the connection closed, say to which host.
      send((error, value) =>
        error ? reject(error.message === NO_RESPONSE ? connectionLost(link.where) : error) : resolve(value),
      );
    } catch (error) {
      // ssh2 throws synchronously for requests the server does not support or when the channel is closed.
      reject(error);
    }
  });
}
