import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { CryptographyClient, type CryptographyClientOptions } from "@azure/keyvault-keys";
import { HeraldError } from "../errors/index.ts";
import { KEY_VAULT_KEY_URL } from "./key-ids.ts";
import type { KeyProvider } from "./key-provider.ts";
import { keyRefused, keyServiceUnreachable, requireOwnKey } from "./key-refusal.ts";

/** Key Vault's RSA key wrapping with OAEP over SHA-256: always done by the vault, never locally. */
const WRAP_ALGORITHM = "RSA-OAEP-256";

export interface AzureKeyVaultOptions {
  keyUrl: string;
  /** DefaultAzureCredential (AZURE_* variables, managed identity, az login) unless given (tests). */
  credential?: TokenCredential;
  client?: Pick<
    CryptographyClientOptions,
    "retryOptions" | "disableChallengeResourceVerification" | "allowInsecureConnection"
  >;
}

/**
 * A customer-managed RSA key in Azure Key Vault: data keys are wrapped and unwrapped by the vault
 * (keys/wrapKey, keys/unwrapKey). The SDK retries transient failures itself.
 */
export function azureKeyVaultKeyProvider(options: AzureKeyVaultOptions): KeyProvider {
  const { keyUrl } = options;
  if (!KEY_VAULT_KEY_URL.test(keyUrl)) {
    throw new HeraldError("validation", "invalid_config", "HERALD_KEY_ID: not a Key Vault key URL");
  }
  const client = new CryptographyClient(keyUrl, options.credential ?? new DefaultAzureCredential(), {
    ...options.client,
  });
  return {
    kind: "azure-key-vault",
    keyId: keyUrl,
    wrapKey: async (dataKey) => {
      const answer = await client.wrapKey(WRAP_ALGORITHM, dataKey).catch((error: unknown) => {
        throw keyVaultFailure(keyUrl, error);
      });
      return Buffer.from(answer.result);
    },
    unwrapKey: async (wrapped, wrappedWith) => {
      requireOwnKey(keyUrl, wrappedWith);
      const answer = await client.unwrapKey(WRAP_ALGORITHM, wrapped).catch((error: unknown) => {
        throw keyVaultFailure(keyUrl, error);
      });
      return Buffer.from(answer.result);
    },
  };
}

/**
 * The vault's own faults, throttling and the network are transient; a refused token, a denied,
 * disabled, missing or expired key are refusals.
 */
function keyVaultFailure(keyUrl: string, error: unknown): HeraldError {
  const name = error instanceof Error ? error.name : "Error";
  const message = error instanceof Error ? error.message : String(error);
  const { statusCode, code } = error as { statusCode?: number; code?: string };
  if (name === "CredentialUnavailableError" || name === "AuthenticationError") {
    return keyRefused(keyUrl, `no Azure token (${message})`);
  }
  const transient = statusCode === undefined ? name === "RestError" : statusCode >= 500 || statusCode === 429;
  const reason = `${code ?? name}: ${message}`;
  return transient ? keyServiceUnreachable(keyUrl, "Azure Key Vault", reason) : keyRefused(keyUrl, reason);
}
