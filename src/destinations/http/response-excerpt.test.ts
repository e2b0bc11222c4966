import { describe, expect, it } from "vitest";
import { authorizationSecrets, requestSecrets, responseExcerpt } from "./response-excerpt.ts";

describe("the excerpt of a refused request's answer", () => {
  it("redacts secrets as sent, URL-encoded and JSON-escaped, longest first", () => {
    const secrets = [
      ...authorizationSecrets("Bearer t0k3n/+x"),
      ...requestSecrets({ secretHeaders: { "X-Api-Key": 'key"quoted' } }, new URL("https://h/in?k=a%2Fb+c")),
    ];
    expect(
      responseExcerpt(
        ' {"auth":"Bearer t0k3n/+x","enc":"t0k3n%2F%2Bx","key":"key\\"quoted","q":"a/b c","raw":"a%2Fb+c"} ',
        secrets,
      ),
    ).toBe('{"auth":"[redacted]","enc":"[redacted]","key":"[redacted]","q":"[redacted]","raw":"[redacted]"}');
  });

  it("cuts at 300 characters after redacting, so a secret across the cut does not show in part", () => {
    const excerpt = responseExcerpt(`${"x".repeat(295)}s3cret-value${"y".repeat(50)}`, ["s3cret-value"]);
    expect(excerpt).toBe(`${"x".repeat(295)}[reda`);
    expect(responseExcerpt("z".repeat(1000), [])).toHaveLength(300);
  });

  it("drops the excerpt when a secret is too short to find reliably", () => {
    expect(responseExcerpt("error: pin 42 refused", ["42"])).toBe("");
    expect(responseExcerpt("error: refused", requestSecrets({}, new URL("https://h/in?v=")))).toBe(
      "error: refused",
    );
  });
});
