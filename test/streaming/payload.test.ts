import { createHash, createHmac } from "node:crypto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createStreamingService } from "../../src/streaming/index.ts";
import { engines } from "../support/stores.ts";
import { streamingDataflowTo, streamingStores } from "./harness.ts";

const T0 = new Date("2026-03-10T12:00:00.000Z").getTime();

// What a streamed message carries, as the destination receives it: ingested through the real
// path (group commit, evaluation, outbox, dispatcher) to an HTTP endpoint.
describe.each(engines)("streamed messages on %s", (engine) => {
  const stores = streamingStores(engine);

  async function herald(path: string, segments: Record<string, string>) {
    const opened = await stores.open(path, segments);
    const streaming = createStreamingService(opened.deps, {
      logger: pino({ level: "silent" }),
      now: () => new Date(T0),
      lingerMs: 0,
    });
    const profiles = async (records: Record<string, unknown>[]) => {
      await streaming.ingest.ingestProfiles("prod", opened.schema, records);
      await streaming.dispatcher.dispatchNow();
    };
    return { ...opened, streaming, profiles };
  }

  it("sends the exit of a profile that lost a mandatory mapped value; its entries stay excluded", async () => {
    const { deps, streaming, profiles } = await herald(`plain-${engine}`, {
      loyal: 'loyalty.tier = "gold" or loyalty.points >= 100',
    });
    const path = `mandatory-${engine}`;
    await streamingDataflowTo(deps, stores.url(path), {
      name: "Tier required",
      segmentIds: ["loyal"],
      mapping: {
        columns: [
          { source: { kind: "identity", namespace: "email" } },
          { source: { kind: "attribute", path: "loyalty.tier" }, mandatory: true },
        ],
      },
    });
    const statuses = () =>
      stores
        .received(path)
        .map((m) => [m.profileId, m.segmentMembership.herald.loyal?.status, m.attributes.loyalty_tier]);

    await profiles([
      { personalEmail: { address: "ann@example.com" }, loyalty: { tier: "gold" } },
      // Qualifies by points, but has no tier: excluded, as from a file export.
      { personalEmail: { address: "bob@example.com" }, loyalty: { points: 150 } },
    ]);
    expect(statuses()).toEqual([["ann@example.com", "realized", "gold"]]);
    expect((await streaming.metricsJson()).excluded).toBe(1);

    // Ann's tier is cleared: she leaves the segment, and the destination hears it without a tier.
    await profiles([{ personalEmail: { address: "ann@example.com" }, loyalty: { tier: null } }]);
    // Bob drops below 100 points: his exit goes too (the destination may not know him).
    await profiles([{ personalEmail: { address: "bob@example.com" }, loyalty: { points: 20 } }]);
    expect(statuses()).toEqual([
      ["ann@example.com", "realized", "gold"],
      ["ann@example.com", "exited", undefined],
      ["bob@example.com", "exited", undefined],
    ]);
    expect(stores.received(path)[1]?.identities).toEqual({ email: "ann@example.com" });
    expect((await streaming.metricsJson()).excluded).toBe(1);
    await streaming.stop();
  });

  it("carries the profile id in clear only where the mapping sends the primary identity in clear", async () => {
    const clear = `clear-${engine}`;
    const { deps, streaming, profiles } = await herald(clear, { gold: 'loyalty.tier = "gold"' });
    // The advertising preset hashes every identity (email, the primary one, is required).
    const hashed = `hashed-${engine}`;
    const hashedFlow = await streamingDataflowTo(deps, stores.url(hashed), {
      name: "Ads",
      destinationId: "advertising-audience",
      segmentIds: ["gold"],
      mapping: { columns: [{ source: { kind: "identity", namespace: "email" } }] },
    });
    // Sends the CRM id only: the email is not the destination's to know.
    const unmapped = `unmapped-${engine}`;
    const unmappedFlow = await streamingDataflowTo(deps, stores.url(unmapped), {
      name: "CRM",
      segmentIds: ["gold"],
      mapping: { columns: [{ source: { kind: "identity", namespace: "crmId" } }] },
    });

    await profiles([
      { personalEmail: { address: "ann@example.com" }, crmId: "CRM-7", loyalty: { tier: "gold" } },
    ]);
    await profiles([{ personalEmail: { address: "ann@example.com" }, loyalty: { tier: "silver" } }]);

    const sent = (path: string) =>
      stores.received(path).map((m) => [m.profileId, m.segmentMembership.herald.gold?.status, m.identities]);
    expect(sent(clear)).toEqual([
      ["ann@example.com", "realized", { email: "ann@example.com" }],
      ["ann@example.com", "exited", { email: "ann@example.com" }],
    ]);
    // The documented pseudonym: hex HMAC-SHA256 of the profile id, keyed by the dataflow's id.
    const pseudonym = (dataflowId: string) =>
      createHmac("sha256", dataflowId).update("ann@example.com").digest("hex");
    const emailHash = createHash("sha256").update("ann@example.com").digest("hex");
    expect(sent(hashed)).toEqual([
      [pseudonym(hashedFlow.id), "realized", { email: emailHash }],
      [pseudonym(hashedFlow.id), "exited", { email: emailHash }],
    ]);
    expect(sent(unmapped)).toEqual([
      [pseudonym(unmappedFlow.id), "realized", { crmId: "CRM-7" }],
      [pseudonym(unmappedFlow.id), "exited", { crmId: "CRM-7" }],
    ]);
    expect(pseudonym(hashedFlow.id)).not.toBe(emailHash);
    for (const path of [hashed, unmapped]) {
      expect(JSON.stringify(stores.received(path))).not.toContain("ann@example.com");
    }
    await streaming.stop();
  });
});
