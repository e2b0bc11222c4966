import { DecryptCommand, EncryptCommand, KMSClient, type KMSClientConfig } from "@aws-sdk/client-kms";
import { HeraldError } from "../errors/index.ts";
import { KMS_KEY_ARN } from "./key-ids.ts";
import type { KeyProvider } from "./key-provider.ts";
import { keyRefused, keyServiceUnreachable, requireOwnKey } from "./key-refusal.ts";

export interface AwsKmsOptions {
  /** The key's ARN, recorded in every value it seals. */
  keyArn: string;
  /** A KMS-compatible endpoint (VPC endpoint, tests); AWS's own for the ARN's region otherwise. */
  endpoint?: string;
  /** Credentials and retries for tests; production uses the SDK's default chain (AWS_* variables, roles). */
  client?: Pick<KMSClientConfig, "credentials" | "maxAttempts">;
}

/**
 * A customer-managed key in AWS KMS. Herald makes each data key itself (node's CSPRNG) and has KMS
 * Encrypt it with the customer's key, Decrypt it at each use: the KeyProvider seam wraps a key it
 * is given, so Encrypt/Decrypt fits without GenerateDataKey, and the IAM policy needs only
 * kms:Encrypt and kms:Decrypt. The SDK retries transient failures itself (3 attempts).
 */
export function awsKmsKeyProvider(options: AwsKmsOptions): KeyProvider {
  const { keyArn } = options;
  const match = KMS_KEY_ARN.exec(keyArn);
  if (!match) throw new HeraldError("validation", "invalid_config", `HERALD_KEY_ID: not a KMS key ARN`);
  const client = new KMSClient({
    region: match[1],
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...options.client,
  });
  return {
    kind: "aws-kms",
    keyId: keyArn,
    wrapKey: async (dataKey) => {
      const answer = await client
        .send(new EncryptCommand({ KeyId: keyArn, Plaintext: dataKey }))
        .catch((error: unknown) => {
          throw kmsFailure(keyArn, error);
        });
      if (!answer.CiphertextBlob)
        throw keyServiceUnreachable(keyArn, "AWS KMS", "Encrypt returned no ciphertext");
      return Buffer.from(answer.CiphertextBlob);
    },
    unwrapKey: async (wrapped, wrappedWith) => {
      requireOwnKey(keyArn, wrappedWith);
      // KeyId is given so KMS refuses a blob of another key instead of using whichever key made it.
      const answer = await client
        .send(new DecryptCommand({ KeyId: keyArn, CiphertextBlob: wrapped }))
        .catch((error: unknown) => {
          throw kmsFailure(keyArn, error);
        });
      if (!answer.Plaintext) throw keyServiceUnreachable(keyArn, "AWS KMS", "Decrypt returned no plaintext");
      return Buffer.from(answer.Plaintext);
    },
  };
}

/** KMS's own faults, throttling and the network are transient; every other answer is a refusal. */
function kmsFailure(keyArn: string, error: unknown): HeraldError {
  const name = error instanceof Error ? error.name : "Error";
  const message = error instanceof Error ? error.message : String(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const transient =
    status === undefined ||
    status >= 500 ||
    [
      "ThrottlingException",
      "KMSInternalException",
      "DependencyTimeoutException",
      "KeyUnavailableException",
    ].includes(name);
  return transient
    ? keyServiceUnreachable(keyArn, "AWS KMS", `${name}: ${message}`)
    : keyRefused(keyArn, `${name}: ${message}`);
}
