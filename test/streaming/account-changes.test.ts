import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataflow } from "../../src/activation/index.ts";
import { httpDestination } from "../../src/destinations/http/index.ts";
import { createAccount, updateAccount } from "../../src/destinations/index.ts";
import type { Store } from "../../src/store/index.ts";
import { createDispatcher, createStreamingMetrics } from "../../src/streaming/index.ts";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { engines } from "../support/stores.ts";
import { eventually, queueProfiles, storeStreamingTo } from "./harness.ts";

// What an account's edit changes for the streams already flowing through it: new credentials are
// used from the next send on (no failure needed to notice them), and its own rate limits it.
describe.each(engines)("a streaming account changed while its dataflow streams, on %s", (engine) => {
  let recorder: HttpRecorder;
  let store: Store | undefined;
  beforeAll(async () => {
    recorder = await startHttpRecorder();
  });
  afterAll(async () => {
    await store?.close();
    await recorder.close();
  });

  /** A dataflow streaming to `path` through an account of its own, authenticated by a bearer token. */
  async function streamTo(path: string) {
    const created = await storeStreamingTo(engine, `${recorder.url}/unused`, {
      gold: 'loyalty.tier = "gold"',
    });
    await store?.close();
    store = created.store;
    const connection = { url: `${recorder.url}/${path}`, authType: "bearer", token: "tok-1" };
    const account = await createAccount(created.deps, "prod", {
      destinationId: httpDestination.id,
      name: path,
      connection,
      details: {},
    });
    const dataflow = await createDataflow(created.deps, "prod", {
      name: path,
      accountId: account.id,
      details: {},
      status: "enabled",
      segments: [{ segmentId: "gold", schedule: { frequency: "streaming" } }],
      mapping: { columns: [{ source: { kind: "identity", namespace: "email" } }] },
    });
    const dispatcher = createDispatcher({ ...created.deps, metrics: createStreamingMetrics(), pollMs: 20 });
    const queue = (profileIds: string[]) => queueProfiles(created.store, dataflow.id, profileIds);
    const received = () =>
      recorder.requests
        .filter((r) => r.path === `/${path}` && (r.body as { records: unknown[] }).records.length)
        .flatMap((r) =>
          (r.body as { records: { profileId: string }[] }).records.map((m) => ({
            profileId: m.profileId,
            authorization: r.headers.authorization,
          })),
        );
    return { deps: created.deps, account, connection, dispatcher, queue, received };
  }

  it("sends with the new credentials once the account has them, without a failed send first", async () => {
    const { deps, account, connection, dispatcher, queue, received } = await streamTo(`rotate-${engine}`);
    await queue(["ann"]);
    expect(await dispatcher.dispatchNow()).toBe(1);
    await updateAccount(deps, "prod", account.id, { connection: { ...connection, token: "tok-2" } });
    // The dispatcher looks at a dataflow and its account again every 2 s (the destination here
    // accepts any token, so only that look can tell).
    await new Promise((r) => setTimeout(r, 2_100));
    await queue(["bob"]);
    await eventually(
      async () => {
        await dispatcher.dispatchNow();
        return received();
      },
      (r) => r.length >= 2,
      10_000,
    );
    expect(received()).toEqual([
      { profileId: "ann", authorization: "Bearer tok-1" },
      { profileId: "bob", authorization: "Bearer tok-2" },
    ]);
    await dispatcher.stop();
  });

  it("sends no faster than the account's own rate", async () => {
    const { deps, account, dispatcher, queue, received } = await streamTo(`rate-${engine}`);
    await updateAccount(deps, "prod", account.id, { recordsPerSecond: 2 });
    await queue(["p1", "p2", "p3", "p4", "p5", "p6"]);
    // A second's worth at once (the bucket starts full), then two a second.
    expect(await dispatcher.dispatchNow()).toBe(2);
    await eventually(
      async () => {
        await dispatcher.dispatchNow();
        return received();
      },
      (r) => r.length >= 6,
      10_000,
    );
    expect(received().map((r) => r.profileId)).toEqual(["p1", "p2", "p3", "p4", "p5", "p6"]);
    await dispatcher.stop();
  });
});
