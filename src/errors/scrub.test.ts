import { describe, expect, it } from "vitest";
import { scrubSecrets } from "./scrub.ts";

describe("scrubSecrets", () => {
  it.each([
    [
      "a URL's user, password and SAS query",
      "request to https://user:pw@acct.blob.core.windows.net/box/a.csv?sv=2024-01-01&sig=abc%2Bdef&se=2026 failed",
      "request to https://acct.blob.core.windows.net/box/a.csv?… failed",
      ["user", "pw@", "sv=", "abc", "se=2026"],
    ],
    [
      "an S3 presigned URL and its fragment",
      "PUT https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAX%2F1&X-Amz-Signature=f00d#frag returned 403",
      "PUT https://b.s3.amazonaws.com/k?…#… returned 403",
      ["AKIAX", "f00d", "frag"],
    ],
    [
      "an Azure storage connection string",
      "Invalid DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5+/==;EndpointSuffix=core.windows.net",
      "Invalid DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=[redacted];EndpointSuffix=core.windows.net",
      ["c2VjcmV0a2V5"],
    ],
    [
      "an Event Hubs connection string",
      "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=k3y+/=",
      "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=[redacted]",
      ["k3y"],
    ],
    [
      "a SAS token and a bearer token",
      "header SharedAccessSignature sr=ns&sig=s1gn&se=1&skn=Root, Authorization: Bearer eyJhbGciOi.x.y",
      "header SharedAccessSignature [redacted], Authorization: Bearer [redacted]",
      ["s1gn", "eyJhbGciOi"],
    ],
    [
      "signature parameters outside a URL",
      "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/2026, SignedHeaders=host, Signature=deadbeef",
      "AWS4-HMAC-SHA256 Credential=[redacted], SignedHeaders=host, Signature=[redacted]",
      ["AKIAEXAMPLE", "deadbeef"],
    ],
  ])("removes %s, keeping where it happened", (_, message, scrubbed, secrets) => {
    expect(scrubSecrets(message)).toBe(scrubbed);
    for (const secret of secrets) expect(scrubSecrets(message)).not.toContain(secret);
  });

  it("leaves messages without secrets as they are, and is idempotent", () => {
    for (const message of [
      "connect ECONNREFUSED 127.0.0.1:22",
      "getaddrinfo ENOTFOUND sftp.example.com",
      "The specified container does not exist. RequestId:42 Time:2026-11-27T10:00:00Z",
      "GET https://example.com/path/to/file.csv returned 404",
    ]) {
      expect(scrubSecrets(message)).toBe(message);
    }
    const once = scrubSecrets("https://u:p@h/x?sig=1 AccountKey=abc; Bearer t0k");
    expect(scrubSecrets(once)).toBe(once);
  });
});
