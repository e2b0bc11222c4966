import { afterAll, describe, expect, it } from "vitest";
import { httpDestination } from "../../src/destinations/http/index.ts";
import { createCatalog, destinationDefinitions } from "../../src/destinations/index.ts";
import { sftpDestination } from "../../src/destinations/sftp/index.ts";
import type { Store } from "../../src/store/index.ts";
import { buildProfileMessage } from "../../src/streaming/index.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";
import { engines } from "../support/stores.ts";

/** SHA-256 of "ann@example.com", the normalised form of " Ann@Example.COM " (docs/destinations.md). */
const annHash = "71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476";

const catalog = createCatalog(destinationDefinitions);
const stores: Store[] = [];
afterAll(async () => {
  for (const store of stores) await store.close();
});

describe("email-marketing and advertising presets", () => {
  it("are in the catalog under their categories, delivering through the SFTP and HTTP connectors", () => {
    expect(catalog.list({ category: "email_marketing" }).map((d) => d.id)).toContain("email-marketing-sftp");
    expect(catalog.list({ category: "advertising" }).map((d) => d.id)).toContain("advertising-audience");
    const email = catalog.get("email-marketing-sftp");
    expect(email).toMatchObject({ exportType: "profile", presets: { requiredIdentity: "email" } });
    expect(email.connector).toBe(sftpDestination.connector);
    expect(email.secretFields).toEqual(sftpDestination.secretFields);
    const ads = catalog.get("advertising-audience");
    expect(ads).toMatchObject({
      exportType: "segment",
      presets: { identityHashing: "sha256", requiredIdentity: "email" },
    });
    expect(ads.connector).toBe(httpDestination.connector);
    expect(ads.connectionSchema).toBe(httpDestination.connectionSchema);
  });

  it.each(engines)(
    "hash emails after trimming and lower-casing in %s's SQL (batch exports)",
    async (engine) => {
      const { store } = await storeWithDefaultSchema(engine);
      stores.push(store);
      const hash = store.dialect.sha256Normalized("CAST($1 AS TEXT)");
      const [row] = await store.queryGlobal<{ a: string; b: string }>(
        `SELECT ${hash} AS a, ${store.dialect.sha256Normalized("CAST($2 AS TEXT)")} AS b`,
        ["\t Ann@Example.COM \r\n", "ann@example.com"],
      );
      expect(row).toEqual({ a: annHash, b: annHash });
    },
  );

  it("hash emails the same way in streaming messages", async () => {
    const { store, schema } = await storeWithDefaultSchema("duckdb");
    stores.push(store);
    const message = buildProfileMessage(
      {
        id: "flow-1",
        mapping: {
          columns: [{ source: { kind: "identity", namespace: "email" }, mandatory: true, hash: "sha256" }],
        },
      },
      schema,
      { _id: "p-1", "personalEmail.address": "\t Ann@Example.COM \r\n" },
      [{ segmentId: "s-1", status: "realized", changedAt: new Date("2026-01-02T03:04:05Z") }],
    );
    expect(message?.identities).toEqual({ email: annHash });
  });
});
