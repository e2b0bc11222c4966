import ssh2 from "ssh2";
import { z } from "zod";

/** `SHA256:` and the unpadded base64 of the key's SHA-256, as `ssh-keygen -lf` and `ssh` print it. */
const fingerprintPattern = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

export const DEFAULT_SFTP_PORT = 22;
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 20;

export const sftpConnectionSchema = z
  .object({
    host: z.string().trim().min(1).describe("Host name or IP address of the SFTP server"),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe(`TCP port; ${DEFAULT_SFTP_PORT} when omitted`),
    username: z.string().min(1).describe("Login name"),
    password: z.string().min(1).optional().describe("Password; give it, a privateKey, or both"),
    privateKey: z
      .string()
      .min(1)
      .optional()
      .describe("SSH private key text: PEM (RSA, DSA, ECDSA) or OpenSSH format (RSA, ECDSA, Ed25519)"),
    passphrase: z.string().optional().describe("Passphrase of an encrypted privateKey"),
    hostKeyFingerprint: z
      .string()
      .trim()
      .regex(
        fingerprintPattern,
        "must look like SHA256:<43 base64 characters>, as `ssh-keygen -lf` prints it",
      )
      .optional()
      .describe(
        "Pinned server host key, e.g. SHA256:N3J8wIOJjl6tU4bE/G/T6Sa3FkMQOnJD94gkrnCDueY; any key is accepted when omitted",
      ),
    connectTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(300)
      .optional()
      .describe(`Seconds to connect and log in; ${DEFAULT_CONNECT_TIMEOUT_SECONDS} when omitted`),
  })
  .superRefine((connection, context) => {
    if (!connection.password && !connection.privateKey) {
      context.addIssue({ code: "custom", path: ["password"], message: "give a password or a privateKey" });
    }
    if (connection.passphrase && !connection.privateKey) {
      context.addIssue({ code: "custom", path: ["passphrase"], message: "is only used with a privateKey" });
    }
    if (connection.privateKey) {
      const problem = privateKeyProblem(connection.privateKey, connection.passphrase);
      if (problem) context.addIssue({ code: "custom", ...problem });
    }
  });
export type SftpConnection = z.infer<typeof sftpConnectionSchema>;

export const sftpDetailsSchema = z.object({
  folderPath: z
    .string()
    .trim()
    .optional()
    .refine((value) => value === undefined || !value.includes("\0"), "must not contain NUL")
    .describe(
      "Folder on the server: absolute (/upload) or relative to the login folder; the login folder when omitted",
    ),
});
export type SftpDetails = z.infer<typeof sftpDetailsSchema>;

/** Why a private key cannot be used, naming the field at fault; never quoting the key. */
function privateKeyProblem(
  privateKey: string,
  passphrase?: string,
): { path: string[]; message: string } | undefined {
  const parsed = ssh2.utils.parseKey(privateKey, passphrase);
  if (!(parsed instanceof Error)) return undefined;
  if (/no passphrase given/.test(parsed.message)) {
    return { path: ["passphrase"], message: "the privateKey is encrypted: give its passphrase" };
  }
  if (passphrase && /passphrase/i.test(parsed.message)) {
    return { path: ["passphrase"], message: "does not decrypt the privateKey" };
  }
  return {
    path: ["privateKey"],
    message: "is not a private key in PEM or OpenSSH format (RSA, DSA, ECDSA or Ed25519)",
  };
}
