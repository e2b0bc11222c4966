/**
 * AWS KMS for tests: a TEST STAND-IN, not an emulator (none runs here). It speaks the documented
 * JSON 1.1 protocol of the KMS API (https://docs.aws.amazon.com/kms/latest/APIReference/):
 * `POST /` with `X-Amz-Target: TrentService.<Operation>` and `Content-Type:
 * application/x-amz-json-1.1`, binary fields as base64, errors as HTTP 400 with
 * `{"__type": "<Exception>", "message": ...}`. Encrypt, Decrypt and GenerateDataKey are served.
 *
 * Each key is a real AES-256 key: a ciphertext blob is the key's id, a nonce, the GCM tag and the
 * encrypted bytes, so a wrong key or an altered blob fails as on AWS (InvalidCiphertextException,
 * IncorrectKeyException). A key can be disabled (DisabledException), access to it denied
 * (AccessDeniedException), deleted (NotFoundException), or the whole service made to fail (500),
 * and restored. Requests must carry a SigV4 Authorization header; the signature is not verified.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export type KmsKeyState = "enabled" | "disabled" | "denied" | "deleted";

export interface KmsStandIn {
  endpoint: string;
  region: string;
  /** Creates a key and returns its ARN. */
  createKey(): string;
  setState(arn: string, state: KmsKeyState): void;
  /** Every call made, by operation name ("Encrypt", "Decrypt", ...). */
  calls: string[];
  /** While set, every call fails with this HTTP status (KMSInternalException). */
  failWith?: number;
  close(): Promise<void>;
}

const ACCOUNT = "111122223333";

export async function startKms(region = "eu-west-1"): Promise<KmsStandIn> {
  const keys = new Map<string, { material: Buffer; state: KmsKeyState }>();
  const calls: string[] = [];

  const fail = (status: number, type: string, message: string) => ({
    status,
    body: { __type: type, message },
  });

  const usableKey = (arn: unknown) => {
    const key = typeof arn === "string" ? keys.get(arn) : undefined;
    if (!key || key.state === "deleted")
      return fail(400, "NotFoundException", `Key '${String(arn)}' does not exist`);
    if (key.state === "disabled") return fail(400, "DisabledException", `${arn} is disabled.`);
    if (key.state === "denied") {
      return fail(
        400,
        "AccessDeniedException",
        `User: arn:aws:iam::${ACCOUNT}:user/herald is not authorized to perform: kms:* on resource: ${arn} because no identity-based policy allows the action`,
      );
    }
    return { key };
  };

  function encrypt(arn: string, material: Buffer, plaintext: Buffer): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", material, iv);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const id = Buffer.from(arn, "utf8");
    return Buffer.concat([Buffer.from([id.length]), id, iv, cipher.getAuthTag(), body]);
  }

  function operate(operation: string, input: Record<string, unknown>) {
    switch (operation) {
      case "Encrypt":
      case "GenerateDataKey": {
        const found = usableKey(input.KeyId);
        if (!("key" in found)) return found;
        const arn = String(input.KeyId);
        const plaintext =
          operation === "Encrypt"
            ? Buffer.from(String(input.Plaintext ?? ""), "base64")
            : randomBytes(Number(input.NumberOfBytes ?? 32));
        const blob = encrypt(arn, found.key.material, plaintext).toString("base64");
        return operation === "Encrypt"
          ? {
              status: 200,
              body: { CiphertextBlob: blob, KeyId: arn, EncryptionAlgorithm: "SYMMETRIC_DEFAULT" },
            }
          : {
              status: 200,
              body: { CiphertextBlob: blob, KeyId: arn, Plaintext: plaintext.toString("base64") },
            };
      }
      case "Decrypt": {
        const blob = Buffer.from(String(input.CiphertextBlob ?? ""), "base64");
        const arn = blob.subarray(1, 1 + (blob[0] ?? 0)).toString("utf8");
        if (input.KeyId !== undefined && input.KeyId !== arn) {
          return fail(
            400,
            "IncorrectKeyException",
            "The key ID in the request does not identify a KMS key that can perform this operation.",
          );
        }
        const found = usableKey(arn);
        if (!("key" in found)) return found;
        const rest = blob.subarray(1 + arn.length);
        try {
          const decipher = createDecipheriv("aes-256-gcm", found.key.material, rest.subarray(0, 12));
          decipher.setAuthTag(rest.subarray(12, 28));
          const plaintext = Buffer.concat([decipher.update(rest.subarray(28)), decipher.final()]);
          return {
            status: 200,
            body: {
              KeyId: arn,
              Plaintext: plaintext.toString("base64"),
              EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
            },
          };
        } catch {
          return fail(400, "InvalidCiphertextException", "");
        }
      }
      default:
        return fail(400, "UnknownOperationException", "");
    }
  }

  const standIn: Partial<KmsStandIn> = { calls };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"] ?? "");
      const operation = target.replace(/^TrentService\./, "");
      calls.push(operation);
      const answer =
        standIn.failWith !== undefined
          ? fail(
              standIn.failWith,
              "KMSInternalException",
              "The request was rejected because an internal exception occurred.",
            )
          : !String(req.headers.authorization ?? "").startsWith("AWS4-HMAC-SHA256 ")
            ? fail(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
            : !target.startsWith("TrentService.") ||
                !String(req.headers["content-type"]).includes("application/x-amz-json-1.1")
              ? fail(400, "UnknownOperationException", "")
              : operate(operation, JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"));
      res.writeHead(answer.status, {
        "content-type": "application/x-amz-json-1.1",
        "x-amzn-requestid": randomUUID(),
      });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(standIn, {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    createKey: () => {
      const arn = `arn:aws:kms:${region}:${ACCOUNT}:key/${randomUUID()}`;
      keys.set(arn, { material: randomBytes(32), state: "enabled" });
      return arn;
    },
    setState: (arn: string, state: KmsKeyState) => {
      const key = keys.get(arn);
      if (!key) throw new Error(`no key ${arn}`);
      key.state = state;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }) as KmsStandIn;
}
