/** The shapes of customer-managed key ids, checked by the settings and by each provider. */

/** `arn:aws:kms:<region>:<account>:key/<id>` (or `alias/<name>`): the region comes from the ARN. */
export const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:(key|alias)\/[A-Za-z0-9/_-]+$/;

/**
 * `https://<vault>.vault.azure.net/keys/<name>/<version>` (any vault or managed HSM host). The
 * version is required: a value's key id must name the exact key version that can unwrap it. Plain
 * http is accepted on loopback only, where test stand-ins listen.
 */
export const KEY_VAULT_KEY_URL =
  /^(https:\/\/[A-Za-z0-9.-]+(:\d+)?|http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?)\/keys\/[A-Za-z0-9-]+\/[A-Za-z0-9]+$/;
