import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { setDataflowStatus } from "../../src/activation/index.ts";
import { createSegment } from "../../src/segments/index.ts";
import { createStreamingService } from "../../src/streaming/index.ts";
import { engines } from "../support/stores.ts";
import { eventually, streamingDataflowTo, streamingStores } from "./harness.ts";

const T0 = new Date("2026-03-10T12:00:00.000Z").getTime();

// A paused dataflow misses nothing: the changes made meanwhile (here while another dataflow
// streams the same segment, so memberships keep moving) are queued for it and go out, in order
// per profile, once it is resumed.
describe.each(engines)("a paused streaming dataflow on %s", (engine) => {
  const stores = streamingStores(engine);

  it("receives every change made during the pause, in order per profile, once resumed", async () => {
    const live = `live-${engine}`;
    const paused = `paused-${engine}`;
    const { store, schema, deps } = await stores.open(live, { gold: 'loyalty.tier = "gold"' });
    // Silver is streamed by the paused dataflow alone.
    await createSegment(store, "prod", {
      id: "silver",
      name: "silver",
      definition: 'loyalty.tier = "silver"',
    });
    const pausedFlow = await streamingDataflowTo(deps, stores.url(paused), {
      name: "Paused",
      segmentIds: ["gold", "silver"],
      mapping: { columns: [{ source: { kind: "identity", namespace: "email" } }] },
    });
    await setDataflowStatus(store, "prod", pausedFlow.id, "disabled");
    const clock = { now: T0 };
    const streaming = createStreamingService(deps, {
      logger: pino({ level: "silent" }),
      now: () => new Date(clock.now),
      lingerMs: 0,
    });
    const tier = async (email: string, value: string) => {
      clock.now += 1000;
      await streaming.ingest.ingestProfiles("prod", schema, [
        { personalEmail: { address: email }, loyalty: { tier: value } },
      ]);
      await streaming.dispatcher.dispatchNow();
    };
    const changes = (path: string) =>
      stores.received(path).map((m) => ({
        profileId: m.profileId,
        ...Object.fromEntries(Object.entries(m.segmentMembership.herald).map(([id, s]) => [id, s.status])),
      }));

    await tier("ann@example.com", "gold");
    await tier("bob@example.com", "gold");
    await tier("ann@example.com", "silver");
    await tier("ann@example.com", "gold");
    await tier("bob@example.com", "bronze");
    const ann = "ann@example.com";
    const bob = "bob@example.com";
    expect(changes(live)).toEqual([
      { profileId: ann, gold: "realized" },
      { profileId: bob, gold: "realized" },
      { profileId: ann, gold: "exited" },
      { profileId: ann, gold: "realized" },
      { profileId: bob, gold: "exited" },
    ]);
    expect(changes(paused)).toEqual([]);
    // The backlog shows in the metrics, per dataflow: what waits, and since when.
    const text = await streaming.metricsText();
    expect(text).toContain(
      `herald_streaming_outbox_messages{sandbox="prod",dataflow="${pausedFlow.id}",state="pending"} 5`,
    );
    expect(text).toMatch(
      new RegExp(
        `herald_streaming_outbox_oldest_pending_seconds\\{sandbox="prod",dataflow="${pausedFlow.id}"\\} \\d`,
      ),
    );
    expect((await streaming.metricsJson()).outbox).toEqual([
      { sandbox: "prod", dataflowId: pausedFlow.id, pending: 5, dead: 0, oldestPendingAt: expect.any(Date) },
    ]);

    await setDataflowStatus(store, "prod", pausedFlow.id, "enabled");
    const received = await eventually(
      async () => {
        await streaming.dispatcher.dispatchNow();
        return changes(paused);
      },
      (r) => r.length >= 5,
    );
    const of = (profileId: string) => received.filter((m) => m.profileId === profileId);
    expect(of(ann)).toEqual([
      { profileId: ann, gold: "realized" },
      { profileId: ann, gold: "exited", silver: "realized" },
      { profileId: ann, gold: "realized", silver: "exited" },
    ]);
    expect(of(bob)).toEqual([
      { profileId: bob, gold: "realized" },
      { profileId: bob, gold: "exited" },
    ]);
    expect(received).toHaveLength(5);
    expect(await store.queryGlobal("SELECT id FROM streaming_outbox")).toEqual([]);
    expect((await streaming.metricsJson()).outbox).toEqual([]);
    await streaming.stop();
  });
});
