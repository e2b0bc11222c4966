import { HeraldError } from "../../errors/index.ts";

/** SFTP status codes (draft-ietf-secsh-filexfer-02, what OpenSSH speaks) that ssh2 puts on `error.code`. */
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;

export function sftpStatus(error: unknown): number | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "number" ? error.code : undefined;
}

/**
 * Turns a failed SFTP request into a HeraldError naming `what` (a folder or file, with its setting):
 * missing → `not_found`, permission denied → `forbidden`, anything else (full disk, dropped
 * connection) → `unavailable`, which is worth a retry.
 */
export function remoteError(
  error: unknown,
  what: string,
  code: { missing: string; denied: string },
): HeraldError {
  if (error instanceof HeraldError) return error;
  const message = error instanceof Error ? error.message : String(error);
  switch (sftpStatus(error)) {
    case NO_SUCH_FILE:
      return new HeraldError("not_found", code.missing, `${what} does not exist`);
    case PERMISSION_DENIED:
      return new HeraldError("forbidden", code.denied, `${what}: permission denied`);
    default:
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
      send((error, value) => (error ? reject(error) : resolve(value)));
    } catch (error) {
      // ssh2 throws synchronously for requests the server does not support or when the channel is closed.
      reject(error);
    }
  });
}
