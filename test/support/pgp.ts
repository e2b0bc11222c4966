import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** GnuPG in a keyring of its own, for the duration of `work`. */
function withGnupg<T>(work: (gpg: (args: string[], input?: Buffer | string) => Buffer) => T): T {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "herald-gnupg-"));
  try {
    return work((args, input) =>
      execFileSync("gpg", ["--homedir", home, "--batch", "--quiet", "--yes", ...args], {
        ...(input !== undefined ? { input } : {}),
        stdio: ["pipe", "pipe", "pipe"],
        maxBuffer: 1 << 30,
      }),
    );
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

const UID = "Pickup Agency <files@agency.example>";

/**
 * A recipient's key pair made by the real GnuPG (`gpg --quick-gen-key`, its defaults: an Ed25519
 * primary key and a Curve25519 encryption subkey), without a passphrase: `signOnly` leaves the
 * encryption subkey out, `expired` made the key in 2020 valid for a day.
 */
export function recipientKeys(options: { expired?: boolean; signOnly?: boolean } = {}) {
  return withGnupg((gpg) => {
    const when = options.expired ? ["--faked-system-time", "20200101T000000!"] : [];
    gpg([
      ...when,
      "--passphrase",
      "",
      "--quick-gen-key",
      UID,
      ...(options.signOnly ? ["ed25519", "sign"] : ["future-default", "default"]),
      options.expired ? "1d" : "never",
    ]);
    return {
      publicKey: gpg(["--armor", "--export", UID]).toString(),
      privateKey: gpg([
        "--armor",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--export-secret-keys",
        UID,
      ]).toString(),
    };
  });
}

/** Decrypts files with the real GnuPG (`gpg --decrypt`), as the files' recipient does. */
export function gpgDecrypt(privateKey: string, files: Buffer[]): Buffer[] {
  return withGnupg((gpg) => {
    gpg(["--import"], privateKey);
    return files.map((file) => gpg(["--decrypt"], file));
  });
}
