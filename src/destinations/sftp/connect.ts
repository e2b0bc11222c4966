import { createHash } from "node:crypto";
import ssh2, { type Client, type SFTPWrapper } from "ssh2";
import { HeraldError } from "../../errors/index.ts";
import { DEFAULT_CONNECT_TIMEOUT_SECONDS, DEFAULT_SFTP_PORT, type SftpConnection } from "./schemas.ts";

/** One SSH connection with its SFTP channel. `where` is `host:port`, for messages. */
export interface SftpLink {
  client: Client;
  sftp: SFTPWrapper;
  where: string;
  /** False once the connection or the channel closed: ssh2 would silently drop later requests. */
  isOpen(): boolean;
}

/** The fingerprint OpenSSH prints for a host key blob: `SHA256:` + unpadded base64 of its SHA-256. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

const SSH_KEEPALIVE_MS = 15_000;

/**
 * Connects, checks the host key when one is pinned, logs in and opens the SFTP channel. Failures
 * become HeraldErrors that name the host, port and user, never a password, key or passphrase:
 * `auth_failed` for refused credentials or a host key that differs from `hostKeyFingerprint`,
 * `unavailable` for unknown hosts, refused connections and timeouts.
 */
export function connectSftp(connection: SftpConnection, signal?: AbortSignal): Promise<SftpLink> {
  const port = connection.port ?? DEFAULT_SFTP_PORT;
  const where = `${connection.host}:${port}`;
  const timeoutSeconds = connection.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS;
  const pinned = connection.hostKeyFingerprint?.replace(/=+$/, "");
  let presented: string | undefined;
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const client = new ssh2.Client();
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      client.end();
      reject(error);
    };
    const onAbort = () => fail(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    client.once("ready", () => {
      client.sftp((error, sftp) => {
        if (error) return fail(connectionError(error, where, connection.username, timeoutSeconds));
        if (settled) return sftp.end();
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        let open = true;
        client.once("close", () => {
          open = false;
        });
        sftp.once("close", () => {
          open = false;
        });
        resolve({ client, sftp, where, isOpen: () => open });
      });
    });
    client.on("error", (error) => {
      if (pinned && presented && presented !== pinned) {
        return fail(
          new HeraldError(
            "auth_failed",
            "sftp_host_key_mismatch",
            `The host key of ${where} has fingerprint ${presented}, not the pinned hostKeyFingerprint ${pinned}: the server changed its key or is not the one you configured`,
          ),
        );
      }
      fail(connectionError(error, where, connection.username, timeoutSeconds));
    });
    client.once("close", () =>
      fail(new HeraldError("unavailable", "sftp_unreachable", `${where} closed the connection during login`)),
    );
    // Servers that take passwords only through keyboard-interactive get the password as the answer.
    client.on("keyboard-interactive", (_name, _instructions, _language, prompts, finish) =>
      finish(prompts.map(() => connection.password ?? "")),
    );
    // No `algorithms`: ssh2's defaults put aes128-gcm@openssh.com first, the fastest on CPUs with
    // AES instructions, provided ssh2's native crypto binding loads (see .npmrc).
    client.connect({
      host: connection.host,
      port,
      username: connection.username,
      ...(connection.password ? { password: connection.password, tryKeyboard: true } : {}),
      ...(connection.privateKey ? { privateKey: connection.privateKey } : {}),
      ...(connection.passphrase ? { passphrase: connection.passphrase } : {}),
      readyTimeout: timeoutSeconds * 1000,
      keepaliveInterval: SSH_KEEPALIVE_MS,
      keepaliveCountMax: 4,
      hostVerifier: (key: Buffer) => {
        presented = hostKeyFingerprint(key);
        return !pinned || presented === pinned;
      },
    });
  });
}

/** Names what went wrong while connecting, without any credential. */
function connectionError(error: Error, where: string, username: string, timeoutSeconds: number): HeraldError {
  const level = "level" in error ? String(error.level) : undefined;
  const code = "code" in error ? String(error.code) : undefined;
  if (level === "client-authentication") {
    return new HeraldError(
      "auth_failed",
      "sftp_auth_failed",
      `${where} refused the login of user '${username}': wrong username, password or privateKey`,
    );
  }
  if (level === "client-timeout" || code === "ETIMEDOUT") {
    return new HeraldError(
      "unavailable",
      "sftp_timeout",
      `${where} did not complete the SSH login within ${timeoutSeconds} s (connectTimeoutSeconds)`,
    );
  }
  switch (code) {
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
    case "EAI_NODATA":
      return new HeraldError(
        "unavailable",
        "sftp_unknown_host",
        `Unknown host: ${where} could not be resolved (${code})`,
      );
    case "ECONNREFUSED":
      return new HeraldError(
        "unavailable",
        "sftp_unreachable",
        `${where} refused the connection: is an SSH server listening on that port?`,
      );
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ECONNRESET":
    case "EPIPE":
      return new HeraldError("unavailable", "sftp_unreachable", `${where} is unreachable (${code})`);
  }
  return new HeraldError(
    "unavailable",
    "sftp_unreachable",
    `Could not open an SFTP session on ${where}: ${error.message}`,
  );
}
