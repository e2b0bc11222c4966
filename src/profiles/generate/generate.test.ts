import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { storeWithDefaultSchema } from "../../../test/support/herald-store.ts";
import { ingestFile } from "../files/index.ts";
import { eventColumns, generateDataset, profileColumns } from "./index.ts";
import { SeededRandom } from "./random.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-generate-test-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function generate(name: string, seed: number, profiles = 2_000, eventsPerProfile = 3) {
  const result = await generateDataset({ profiles, eventsPerProfile, seed, outDir: path.join(dir, name) });
  return {
    ...result,
    profilesText: fs.readFileSync(result.profilesFile, "utf8"),
    eventsText: fs.readFileSync(result.eventsFile, "utf8"),
  };
}

describe("generateDataset", () => {
  it("writes byte-identical files for the same seed, and different ones for another seed", async () => {
    const a = await generate("a", 7);
    const b = await generate("b", 7);
    const c = await generate("c", 8);
    expect(b.profilesText).toBe(a.profilesText);
    expect(b.eventsText).toBe(a.eventsText);
    expect(c.profilesText).not.toBe(a.profilesText);
    // Profiles do not depend on how many events are asked for.
    const fewerEvents = await generate("d", 7, 2_000, 0);
    expect(fewerEvents.profilesText).toBe(a.profilesText);
    expect(fewerEvents.events).toBe(0);
  });

  it("writes realistic rows under the headers ingestFile reads, with unique e-mails and phones", async () => {
    const { profilesText, eventsText, profiles, events } = await generate("shape", 42);
    const profileLines = profilesText.trimEnd().split("\n");
    const eventLines = eventsText.trimEnd().split("\n");
    expect(profileLines[0]).toBe(profileColumns.join(","));
    expect(eventLines[0]).toBe(eventColumns.join(","));
    expect(profileLines).toHaveLength(profiles + 1);
    expect(eventLines).toHaveLength(events + 1);
    // About 3 events per profile on average.
    expect(events / profiles).toBeGreaterThan(2.5);
    expect(events / profiles).toBeLessThan(3.5);
    const emails = profileLines.slice(1).map((l) => l.split(",")[0] as string);
    expect(new Set(emails).size).toBe(profiles);
    for (const email of emails) expect(email).toMatch(/^[a-z]+\.[a-z]+\d+@[a-z0-9.-]+\.[a-z]+$/);
    const phones = profileLines
      .slice(1)
      .map((l) => l.split(",")[1])
      .filter(Boolean);
    expect(new Set(phones).size).toBe(phones.length);
    expect(phones.length / profiles).toBeGreaterThan(0.7);
    const countries = new Set(profileLines.slice(1).map((l) => l.match(/,(US|GB|FR|DE|ES|IT),/)?.[1]));
    expect([...countries].sort()).toEqual(["DE", "ES", "FR", "GB", "IT", "US"]);
    const types = new Set(eventLines.slice(1).map((l) => l.split(",")[0]));
    expect(types).toEqual(
      new Set(["web.pageView", "commerce.productViews", "commerce.productListAdds", "commerce.purchases"]),
    );
  });

  it("generates files that load with no rejected row", async () => {
    const { profilesFile, eventsFile, profiles, events } = await generate("load", 3, 1_000, 2);
    const { store, schema } = await storeWithDefaultSchema("duckdb");
    try {
      const loadedProfiles = await ingestFile(store, schema, { path: profilesFile, kind: "profiles" });
      expect(loadedProfiles).toMatchObject({ received: profiles, stored: profiles, rejected: 0 });
      const loadedEvents = await ingestFile(store, schema, { path: eventsFile, kind: "events" });
      expect(loadedEvents).toMatchObject({ received: events, stored: events, rejected: 0 });
      const [purchases] = await store.query<{ n: number; min: number; currencies: number }>(
        "prod",
        `SELECT count(*) AS n, min("priceTotal") AS min, count(DISTINCT currency) AS currencies
         FROM {events} WHERE _type = 'commerce.purchases'`,
      );
      expect(purchases?.n).toBeGreaterThan(0);
      expect(purchases?.min).toBeGreaterThan(0);
      expect(purchases?.currencies).toBe(3);
    } finally {
      await store.close();
    }
  });
});

describe("SeededRandom", () => {
  it("repeats its sequence for a seed and stays within bounds", () => {
    const a = new SeededRandom(1);
    const b = new SeededRandom(1);
    const first = Array.from({ length: 1000 }, () => a.int(3, 9));
    expect(Array.from({ length: 1000 }, () => b.int(3, 9))).toEqual(first);
    expect(Math.min(...first)).toBe(3);
    expect(Math.max(...first)).toBe(9);
  });
});
