import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createConsentPolicy } from "../../src/governance/index.ts";
import type { Store } from "../../src/store/index.ts";
import { createStreamingService } from "../../src/streaming/index.ts";
import { eventually, streamingStores } from "../streaming/harness.ts";
import { goldStream } from "../support/governance.ts";
import { engines } from "../support/stores.ts";

/** A consent policy on a streaming dataflow's marketing action: entries without consent are not sent. */
describe.each(engines)("consent on a streaming dataflow on %s", (engine) => {
  const stores = streamingStores(engine);
  let opened: Store | undefined;
  afterEach(async () => {
    await opened?.close();
    opened = undefined;
  });

  it("sends the entries of profiles with the consent only, the policy made after the dataflow", async () => {
    const target = `consent-${engine}`;
    const { store, schema, deps } = await goldStream(engine, stores.url(target), "Email stream", [
      "email_targeting",
    ]);
    opened = store;
    const streaming = createStreamingService(deps, { logger: pino({ level: "silent" }), lingerMs: 0 });
    await streaming.ingest.ingestProfiles("prod", schema, [
      { personalEmail: { address: "early@example.com" }, loyalty: { tier: "gold" } },
    ]);
    await createConsentPolicy(store, "prod", {
      name: "Email needs opt-in",
      marketingAction: "Email targeting",
      field: "consents.marketing.email.val",
      allowedValues: ["y"],
    });
    await streaming.ingest.ingestProfiles("prod", schema, [
      {
        personalEmail: { address: "ann@example.com" },
        loyalty: { tier: "gold" },
        consents: { marketing: { email: { val: "y" } } },
      },
      {
        personalEmail: { address: "bob@example.com" },
        loyalty: { tier: "gold" },
        consents: { marketing: { email: { val: "n" } } },
      },
      { personalEmail: { address: "cid@example.com" }, loyalty: { tier: "gold" } },
    ]);
    const received = await eventually(
      async () => {
        await streaming.dispatcher.dispatchNow();
        return stores.received(target);
      },
      (r) => r.length >= 2,
    );
    await streaming.dispatcher.dispatchNow();
    expect(stores.received(target).map((m) => m.profileId)).toEqual(["early@example.com", "ann@example.com"]);
    expect(received).toHaveLength(2);
    await streaming.stop();
  });
});
