import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "../support/postgres-cluster.ts";

const run = promisify(execFile);
const SSHD = "/usr/sbin/sshd";

/** The two login users the server accepts; they exist on the machine, never as root. */
export const SFTP_PASSWORD_USER = "herald-sftp-pw";
export const SFTP_KEY_USER = "herald-sftp-key";

export interface ClientKey {
  privateKey: string;
  passphrase?: string;
}

export interface SshServer {
  host: string;
  port: number;
  /** The server's host key as `ssh-keygen -lf` prints it: `SHA256:<base64>`. */
  hostKeyFingerprint: string;
  password: { username: string; password: string };
  keyUser: {
    username: string;
    /** Authorised: Ed25519 (OpenSSH format), Ed25519 with a passphrase, RSA in PEM with a passphrase. */
    ed25519: ClientKey;
    ed25519Encrypted: Required<ClientKey>;
    rsaPemEncrypted: Required<ClientKey>;
    /** A valid key the server does not know. */
    stranger: ClientKey;
  };
  /** Absolute folders: both users may write to `writable`; `readOnly` belongs to root (0755). */
  writable: string;
  readOnly: string;
  /** Kills the processes serving open connections (this server's children): a network cut. */
  dropConnections: () => Promise<void>;
  stop: () => Promise<void>;
}

/** Why sshd cannot be started here, or undefined when it can. */
export function sshdUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0)
    return "the SFTP tests start OpenSSH's sshd with local test users, which needs root";
  if (!fs.existsSync(SSHD)) return "OpenSSH's sshd is missing: apt-get install openssh-server";
  return undefined;
}

/**
 * OpenSSH's sshd on a free loopback port, for tests: a generated host key, a password user and a
 * key user (created on the machine when missing; their keys come from a temporary
 * `AuthorizedKeysFile`), internal-sftp, a writable and a read-only folder. `stop()` ends the server
 * and removes every file it made; the users stay (idempotent). The password user's password is
 * random but shared by every server on the machine (see `sharedPassword`), so test files may start
 * servers at the same time.
 */
export async function startSshd(): Promise<SshServer> {
  const reason = sshdUnavailableReason();
  if (reason) throw new Error(reason);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-sshd-"));
  fs.chmodSync(dir, 0o755);
  try {
    const password = sharedPassword();
    await ensureUser(SFTP_PASSWORD_USER);
    await ensureUser(SFTP_KEY_USER);
    await retried(() => setPassword(SFTP_PASSWORD_USER, password));
    // A key-only user: '*' matches no password yet is not "locked" (sshd refuses locked accounts).
    await retried(() => run("usermod", ["-p", "*", SFTP_KEY_USER]));

    const keys = path.join(dir, "client-keys");
    fs.mkdirSync(keys, { mode: 0o700 });
    const key = async (name: string, type: string, passphrase: string, extra: string[] = []) => {
      const file = path.join(keys, name);
      await run("ssh-keygen", ["-q", "-t", type, ...extra, "-N", passphrase, "-C", name, "-f", file]);
      return { privateKey: fs.readFileSync(file, "utf8"), publicKey: fs.readFileSync(`${file}.pub`, "utf8") };
    };
    const ed25519 = await key("ed25519", "ed25519", "");
    const ed25519Encrypted = await key("ed25519-encrypted", "ed25519", "open sesame");
    const rsaPemEncrypted = await key("rsa-pem", "rsa", "pem secret", ["-b", "2048", "-m", "PEM"]);
    const stranger = await key("stranger", "ed25519", "");

    const authorized = path.join(dir, "authorized_keys");
    fs.mkdirSync(authorized, { mode: 0o755 });
    fs.writeFileSync(
      path.join(authorized, SFTP_KEY_USER),
      ed25519.publicKey + ed25519Encrypted.publicKey + rsaPemEncrypted.publicKey,
      { mode: 0o644 },
    );

    const hostKey = path.join(dir, "host_ed25519");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "herald-test-host", "-f", hostKey]);
    const { stdout: fingerprintLine } = await run("ssh-keygen", [
      "-l",
      "-E",
      "sha256",
      "-f",
      `${hostKey}.pub`,
    ]);
    const hostKeyFingerprint = fingerprintLine.split(" ")[1] ?? "";

    const writable = path.join(dir, "upload");
    const readOnly = path.join(dir, "readonly");
    fs.mkdirSync(writable);
    fs.chmodSync(writable, 0o777);
    fs.mkdirSync(readOnly);
    fs.chmodSync(readOnly, 0o755);

    // sshd's privilege-separation directory; Debian creates it only when the service starts.
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });

    const port = await freePort();
    const config = path.join(dir, "sshd_config");
    const settings = [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${authorized}/%u`,
      "PasswordAuthentication yes",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PermitRootLogin no",
      `AllowUsers ${SFTP_PASSWORD_USER} ${SFTP_KEY_USER}`,
      "UsePAM no",
      "StrictModes no",
      "Subsystem sftp internal-sftp",
      "MaxStartups 100",
      "MaxAuthTries 10",
      "LogLevel VERBOSE",
    ];
    // OpenSSH 9.8+ penalises sources that fail to log in (as the error tests do on purpose) by
    // refusing their next connections; older versions do not know the option.
    fs.writeFileSync(config, [...settings, "PerSourcePenalties no", ""].join("\n"));
    if (
      !(await run(SSHD, ["-t", "-f", config]).then(
        () => true,
        () => false,
      ))
    ) {
      fs.writeFileSync(config, [...settings, ""].join("\n"));
      await run(SSHD, ["-t", "-f", config]);
    }

    const { pid, stop } = await launch(config, port);
    return {
      host: "127.0.0.1",
      port,
      hostKeyFingerprint,
      password: { username: SFTP_PASSWORD_USER, password },
      keyUser: {
        username: SFTP_KEY_USER,
        ed25519: { privateKey: ed25519.privateKey },
        ed25519Encrypted: { privateKey: ed25519Encrypted.privateKey, passphrase: "open sesame" },
        rsaPemEncrypted: { privateKey: rsaPemEncrypted.privateKey, passphrase: "pem secret" },
        stranger: { privateKey: stranger.privateKey },
      },
      writable,
      readOnly,
      dropConnections: async () => {
        for (const child of descendantsOf(pid)) {
          try {
            process.kill(child, "SIGKILL");
          } catch {
            // already gone
          }
        }
      },
      stop: async () => {
        await stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Starts `sshd -D -e` and resolves once it listens; the returned function stops it. */
async function launch(config: string, port: number): Promise<{ pid: number; stop: () => Promise<void> }> {
  const child = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  // The log stays drained (the listener below is never removed) so sshd never blocks on a full pipe.
  let log = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start within 10 s:\n${log}`)), 10_000);
    child.stderr.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited with ${code} before listening:\n${log}`));
    });
  });
  return {
    pid: child.pid ?? 0,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      const killTimer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killTimer);
    },
  };
}

/** The process ids below `pid` (children, grandchildren, ...), read from /proc (no `ps` needed). */
function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (command) state ppid ..."; the command may contain spaces or ')'.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // the process ended while we looked
    }
  }
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const [child, itsParent] of parentOf) {
      if (itsParent === parent) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}

/** Creates a login-less system user unless it exists. */
async function ensureUser(name: string): Promise<void> {
  await retried(async () => {
    const exists = await run("id", ["-u", name]).then(
      () => true,
      () => false,
    );
    if (exists) return;
    await run("useradd", [
      "--system",
      "--no-create-home",
      "--home-dir",
      "/",
      "--shell",
      "/usr/sbin/nologin",
      name,
    ]);
  });
}

/** useradd, usermod and chpasswd fail while another process holds /etc/passwd's lock: try again. */
async function retried<T>(action: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (attempt >= 8) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/**
 * The password user's password: made once, kept in a root-only file in the temp folder, read by
 * every later start. Servers started at the same time (two test files, a benchmark) therefore set
 * the same password instead of overwriting each other's. A file not owned by root, or readable by
 * others, is replaced: nobody else gets to choose the password.
 */
function sharedPassword(): string {
  const file = path.join(os.tmpdir(), "herald-sftp-test-password");
  for (;;) {
    const stats = fs.lstatSync(file, { throwIfNoEntry: false });
    if (stats?.isFile() && stats.uid === 0 && (stats.mode & 0o077) === 0) {
      const password = fs.readFileSync(file, "utf8").trim();
      if (password.length >= 16) return password;
    }
    if (stats) fs.rmSync(file, { force: true });
    // Written aside, then linked into place: a reader never sees a half-written file, and of two
    // processes creating it at once, one wins and the other reads the winner's.
    const candidate = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
    fs.writeFileSync(candidate, randomBytes(18).toString("base64url"), { mode: 0o600, flag: "wx" });
    try {
      fs.linkSync(candidate, file);
    } catch {
      // another process linked its own first: the loop reads that one
    } finally {
      fs.rmSync(candidate, { force: true });
    }
  }
}

async function setPassword(name: string, password: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn("chpasswd", [], { stdio: ["pipe", "ignore", "pipe"] });
    let errors = "";
    child.stderr.on("data", (chunk: Buffer) => {
      errors += chunk.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`chpasswd failed (${code}): ${errors}`)),
    );
    child.stdin.end(`${name}:${password}\n`);
  });
}
