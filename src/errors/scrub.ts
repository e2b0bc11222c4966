/**
 * Secrets that libraries (AWS SDK, Azure SDK, ssh2, undici, ...) may put in their error messages,
 * removed before a message is stored where users read it (run records). Herald's own messages
 * name fields and never hold a secret; a library's are text we do not control.
 *
 * What goes: a URL's user name and password (`https://user:pw@host`), its query (`?sv=…&sig=…`,
 * `X-Amz-Signature=…`) and fragment, shown as `?…` and `#…`; the values of connection-string keys
 * (`AccountKey=`, `SharedAccessKey=`, `SharedAccessSignature=`); a `SharedAccessSignature …`,
 * `Bearer …` or `Basic …` credential; and signature-like parameters outside a URL (`sig=`,
 * `Signature=`, `X-Amz-Credential=`, `token=`, `password=`). What stays: the scheme, host, port
 * and path, which say where the failure happened.
 *
 * @example scrubSecrets("GET https://u:pw@acct.blob.core.windows.net/c/f?sv=1&sig=abc failed")
 * // "GET https://acct.blob.core.windows.net/c/f?… failed"
 */
export function scrubSecrets(message: string): string {
  return message
    .replace(url, (_, scheme: string, _userinfo, rest: string, query?: string, fragment?: string) => {
      return `${scheme}${rest}${query ? "?…" : ""}${fragment ? "#…" : ""}`;
    })
    .replace(credentialScheme, "$1 [redacted]")
    .replace(connectionStringKey, "$1=[redacted]")
    .replace(signatureParameter, "$1=[redacted]");
}

/** scheme://, optional user:pw@ (before the first /), host and path, then query and fragment. */
const url = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@"'<>]*@)?([^\s?#"'<>]*)(\?[^\s#"'<>]*)?(#[^\s"'<>]*)?/gi;

/** An HTTP Authorization-style credential: the scheme's name, then the secret. */
const credentialScheme = /\b(SharedAccessSignature|Bearer|Basic)\s+(?!\[redacted\])[^\s"',;]+/g;

/** Azure connection-string keys: the value runs to the next `;` (base64 keys hold `=`, `+`, `/`). */
const connectionStringKey =
  /\b(AccountKey|SharedAccessKey|SharedAccessSignature)\s*=\s*(?!\[redacted\])[^;\s"']+/gi;

/** Query-style parameters that carry a signature or credential, wherever they appear. */
const signatureParameter =
  /\b(sig|signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|AWSAccessKeyId|Credential|token|access_token|api[_-]?key|client_secret|password|passwd|pwd|secret)\s*=\s*(?!\[redacted\])[^&;\s"',]+/gi;
