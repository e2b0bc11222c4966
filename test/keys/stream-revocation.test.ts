import { PassThrough } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateParts } from "../../src/api/index.ts";
import { awsKmsKeyProvider } from "../../src/crypto/index.ts";
import { type AccountDeps, createCatalog, destinationDefinitions } from "../../src/destinations/index.ts";
import { createSegment } from "../../src/segments/index.ts";
import type { Store } from "../../src/store/index.ts";
import { createDispatcher, createStreamingMetrics } from "../../src/streaming/index.ts";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { type KmsStandIn, startKms } from "../servers/kms.ts";
import { eventually, queueProfiles, streamingDataflowTo } from "../streaming/harness.ts";
import { clientsFor } from "../support/customer-keys.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";

// A stream's open session holds its account's unsealed credentials: the dispatcher asks the key
// again (every `keyRecheckMs`), so a revoked key holds the stream and a restored one resumes it.
describe("a stream whose customer-managed key is revoked, then restored", () => {
  let kms: KmsStandIn;
  let recorder: HttpRecorder;
  let store: Store;
  beforeAll(async () => {
    [kms, recorder] = await Promise.all([startKms(), startHttpRecorder()]);
    ({ store } = await storeWithDefaultSchema("duckdb"));
    await migrateParts(store);
  });
  afterAll(async () => {
    await store?.close();
    await Promise.all([kms?.close(), recorder?.close()]);
  });

  it("holds its messages with key_unavailable naming the key, and delivers them once access is back", async () => {
    const arn = kms.createKey();
    const deps: AccountDeps = {
      store,
      catalog: createCatalog(destinationDefinitions),
      keys: awsKmsKeyProvider({ keyArn: arn, endpoint: kms.endpoint, client: clientsFor().aws }),
    };
    await createSegment(store, "prod", { id: "gold", name: "gold", definition: 'loyalty.tier = "gold"' });
    const dataflow = await streamingDataflowTo(deps, `${recorder.url}/cmk`, {
      name: "cmk",
      segmentIds: ["gold"],
      mapping: { columns: [{ source: { kind: "identity", namespace: "email" } }] },
    });
    const log: string[] = [];
    const sink = new PassThrough();
    sink.on("data", (line: Buffer) => log.push(line.toString("utf8")));
    const dispatcher = createDispatcher({
      ...deps,
      metrics: createStreamingMetrics(),
      logger: pino({ level: "warn" }, sink),
      pollMs: 20,
      keyRecheckMs: 50,
      retry: { baseDelayMs: 20, maxDelayMs: 100, maxAttempts: 1000 },
    });
    const queue = (profileIds: string[]) => queueProfiles(store, dataflow.id, profileIds);
    const received = () =>
      recorder.requests
        .filter((r) => r.path === "/cmk")
        .flatMap((r) => (r.body as { records: { profileId: string }[] }).records.map((m) => m.profileId));

    await queue(["ann"]);
    expect(await dispatcher.dispatchNow()).toBe(1);

    kms.setState(arn, "disabled");
    await new Promise((r) => setTimeout(r, 80));
    await queue(["bob"]);
    await dispatcher.dispatchNow();
    expect(received()).toEqual(["ann"]);
    const [waiting] = await store.query<{ last_error: string }>(
      "prod",
      "SELECT last_error FROM streaming_outbox WHERE sandbox = $sandbox",
    );
    expect(waiting?.last_error).toContain(
      `The customer-managed key ${arn} (HERALD_KEY_ID) refused: DisabledException`,
    );
    expect(log.join("")).toContain(`The customer-managed key ${arn} (HERALD_KEY_ID) refused`);

    kms.setState(arn, "enabled");
    await eventually(
      async () => {
        await dispatcher.dispatchNow();
        return received();
      },
      (r) => r.length >= 2,
      10_000,
    );
    expect(received()).toEqual(["ann", "bob"]);
    await dispatcher.stop();
  });
});
