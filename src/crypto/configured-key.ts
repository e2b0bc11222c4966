import { type AwsKmsOptions, awsKmsKeyProvider } from "./aws-kms-key-provider.ts";
import { type AzureKeyVaultOptions, azureKeyVaultKeyProvider } from "./azure-key-vault-key-provider.ts";
import { KEY_VAULT_KEY_URL, KMS_KEY_ARN } from "./key-ids.ts";
import {
  type KeyProvider,
  type KeyProviderKind,
  loadLocalKey,
  loadOrCreateLocalKey,
  localKeyProvider,
} from "./key-provider.ts";
import { keyRing, verifyKeyRoundTrip } from "./key-ring.ts";

/** The key settings (src/config), as the provider needs them. */
export interface KeySettings {
  dataDir: string;
  secretKey?: string;
  keyProvider: KeyProviderKind;
  keyId?: string;
  kmsEndpoint?: string;
}

/** Clients' credentials and retries, given by tests; production takes each SDK's defaults. */
export interface KeyClientOverrides {
  aws?: AwsKmsOptions["client"];
  azure?: Pick<AzureKeyVaultOptions, "credential" | "client">;
}

/**
 * The key Herald seals with, as configured, holding the local key (when there is one) to read what
 * it sealed before a customer-managed key was configured. A customer-managed key is checked with a
 * wrap and unwrap round trip: a key Herald cannot use refuses start.
 */
export async function openConfiguredKey(
  settings: KeySettings,
  overrides: KeyClientOverrides = {},
): Promise<KeyProvider> {
  if (settings.keyProvider === "local") {
    return localKeyProvider(loadOrCreateLocalKey(settings.dataDir, settings.secretKey));
  }
  const customer = customerManagedKey(settings, settings.keyId ?? "", overrides);
  await verifyKeyRoundTrip(customer);
  const local = loadLocalKey(settings.dataDir, settings.secretKey);
  return keyRing(customer, local ? [localKeyProvider(local)] : [], (keyId) =>
    sameKeyHolder(settings.keyId ?? "", keyId) ? customerManagedKey(settings, keyId, overrides) : undefined,
  );
}

function customerManagedKey(
  settings: KeySettings,
  keyId: string,
  overrides: KeyClientOverrides,
): KeyProvider {
  switch (settings.keyProvider) {
    case "aws-kms":
      return awsKmsKeyProvider({ keyArn: keyId, endpoint: settings.kmsEndpoint, client: overrides.aws });
    case "azure-key-vault":
      return azureKeyVaultKeyProvider({ keyUrl: keyId, ...overrides.azure });
    case "local":
      throw new Error("the local key is not customer-managed");
  }
}

/**
 * Whether a value's key may be asked with the configured key's credentials: a key in the same
 * vault, or in the same AWS account and region. A key id is read from the store: never is a token
 * or a signed request sent to a host the configuration does not name.
 */
function sameKeyHolder(configured: string, other: string): boolean {
  const kms = [KMS_KEY_ARN.exec(configured), KMS_KEY_ARN.exec(other)];
  if (kms[0] && kms[1])
    return configured.split(":").slice(0, 5).join(":") === other.split(":").slice(0, 5).join(":");
  if (!KEY_VAULT_KEY_URL.test(configured) || !KEY_VAULT_KEY_URL.test(other)) return false;
  return new URL(configured).origin === new URL(other).origin;
}
