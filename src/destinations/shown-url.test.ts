import { describe, expect, it } from "vitest";
import { kinesisConnectionSchema } from "./kinesis/connection.ts";
import { s3ConnectionSchema } from "./s3/schemas.ts";
import { withoutSecrets, withQueryHidden } from "./shown-url.ts";

describe("URLs and their secrets", () => {
  it("shows a URL without its user, password or query", () => {
    const url = "https://user:pw@api.example.com:8443/v1/hook?api_key=s3cret";
    expect(withoutSecrets(url)).toBe("https://api.example.com:8443/v1/hook");
    expect(withQueryHidden(url)).toBe("https://api.example.com:8443/v1/hook?…");
  });

  it("refuses S3 and Kinesis endpoints holding a user name or password, naming the fields to use", () => {
    const credentials = {
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      secretAccessKey: "secret",
      region: "eu-west-1",
    };
    for (const schema of [s3ConnectionSchema, kinesisConnectionSchema]) {
      const refused = schema.safeParse({ ...credentials, endpoint: "http://admin:pw@127.0.0.1:9000" });
      expect(refused.success).toBe(false);
      expect(refused.error?.issues).toEqual([
        expect.objectContaining({
          path: ["endpoint"],
          message:
            "must not hold a user name or password (user:password@host): give them in accessKeyId and secretAccessKey",
        }),
      ]);
      expect(schema.safeParse({ ...credentials, endpoint: "http://127.0.0.1:9000" }).success).toBe(true);
    }
  });
});
