import { describe, expect, it } from "vitest";
import { kinesisConnectionSchema } from "./kinesis/connection.ts";
import { s3ConnectionSchema } from "./s3/schemas.ts";
import {
  looksLikeSecret,
  withoutPathSecrets,
  withoutSecrets,
  withPathAndQueryHidden,
  withQueryHidden,
} from "./shown-url.ts";

describe("URLs and their secrets", () => {
  it("shows a URL without its user, password or query", () => {
    const url = "https://user:pw@api.example.com:8443/v1/hook?api_key=s3cret";
    expect(withoutSecrets(url)).toBe("https://api.example.com:8443/v1/hook");
    expect(withQueryHidden(url)).toBe("https://api.example.com:8443/v1/hook?…");
  });

  it("hides webhook tokens in a path as … and keeps ordinary paths readable", () => {
    const slackToken = "XXXXXXXXXXXXXXXXXXXXXXXX";
    const slackRealistic = "q8KcV0lM3nZp7TbX2wRy5fHd";
    const discordToken = "k5Tq9vZ-_3mN8pLr2xYwB7cJ0hD4fG6sA1eU9iO-Qz_Wt3RyVb5Nn8Mm2Kk7Jj0Hh4Ll";
    const uuid = "3f2a9c1e-7b4d-4e8a-9c0f-1d2e3f4a5b6c";
    const shown = (path: string) => withoutPathSecrets(`https://hooks.example.com${path}`);
    expect(shown(`/services/T0123ABCD/B0456EFGH/${slackToken}`)).toBe(
      "https://hooks.example.com/services/T0123ABCD/B0456EFGH/…",
    );
    expect(shown(`/services/T0123ABCD/B0456EFGH/${slackRealistic}`)).toBe(
      "https://hooks.example.com/services/T0123ABCD/B0456EFGH/…",
    );
    expect(shown(`/api/webhooks/112233445566778899/${discordToken}`)).toBe(
      "https://hooks.example.com/api/webhooks/112233445566778899/…",
    );
    expect(shown(`/hooks/${uuid}/in`)).toBe("https://hooks.example.com/hooks/…/in");
    expect(shown("/keys/5d41402abc4b2a76b9719d911017c592")).toBe("https://hooks.example.com/keys/…");
    for (const path of [
      "/v1/ingest",
      "/api/v2/events/batch",
      "/hooks/catch/123456/abcdef",
      "/audiences/vip-customers-newsletter/",
      "/exports/men_over_50-2026-11-27.json",
      "/v3/accounts/1234567890123456789012/records",
      "/devices/Thermostat",
    ])
      expect(shown(path)).toBe(`https://hooks.example.com${path}`);
    expect(looksLikeSecret("ingest")).toBe(false);
  });

  it("gives the same text when applied to a URL it already showed, query hidden as ?…", () => {
    const once = withPathAndQueryHidden(
      "https://hooks.example.com/services/T0123ABCD/B0456EFGH/q8KcV0lM3nZp7TbX2wRy5fHd?sig=abc",
    );
    expect(once).toBe("https://hooks.example.com/services/T0123ABCD/B0456EFGH/…?…");
    expect(withPathAndQueryHidden(once)).toBe(once);
    expect(withPathAndQueryHidden("https://api.example.com/v1/ingest")).toBe(
      "https://api.example.com/v1/ingest",
    );
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
