import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { installDefaultSchema } from "../../src/schema/index.ts";
import { recordMembership } from "../../src/segments/index.ts";
import { createSandbox } from "../../src/store/index.ts";
import {
  createStreamingIngest,
  createStreamingMetrics,
  createSweeper,
  metricsView,
} from "../../src/streaming/index.ts";
import { createPlanCache } from "../../src/streaming/streaming-plan.ts";
import { engines } from "../support/stores.ts";
import { streamingStores } from "./harness.ts";

const T0 = new Date("2026-03-10T12:00:00.000Z").getTime();
const HOUR = 3_600_000;

// A segment that reads the time only through `within last` windows: the sweep looks at a member
// again only once one of its events can have left a window (or it was written by the batch path).
describe.each(engines)("the time-based exit sweep on %s", (engine) => {
  const stores = streamingStores(engine);

  it("re-evaluates only the members whose recheck time has come, and exits them when it has", async () => {
    const { store, schema } = await stores.open("sweep", {
      buyers: "exists(commerce.purchases within last 2 days)",
    });
    const clock = { now: T0 };
    const now = () => new Date(clock.now);
    const plans = createPlanCache();
    const metrics = createStreamingMetrics();
    const ingest = createStreamingIngest({ store, plans, metrics, now, lingerMs: 0 });
    const sweeper = createSweeper({ store, ingest, plans, now });
    const evaluations = async () => (await metricsView(metrics)).evaluations;
    const purchase = (email: string) => ({
      type: "commerce.purchases",
      timestamp: new Date(T0).toISOString(),
      identity: { email },
      properties: { priceTotal: 10 },
    });
    // Ann enters through the streaming path; Bob's membership was written by the batch evaluation.
    await ingest.ingestEvents(schema.sandbox, schema, [
      purchase("ann@example.com"),
      purchase("bob@example.com"),
    ]);
    await store.query(
      "prod",
      "DELETE FROM segment_memberships WHERE sandbox = $sandbox AND profile_id = 'bob@example.com'",
    );
    await recordMembership(store, "prod", "buyers", "bob@example.com", true, now());
    const before = await evaluations();

    clock.now = T0 + HOUR;
    expect(await sweeper.sweepNow()).toBe(0);
    expect((await evaluations()) - before).toBe(1);
    clock.now = T0 + 2 * HOUR;
    expect(await sweeper.sweepNow()).toBe(0);
    expect((await evaluations()) - before).toBe(1);

    // Two days and a bit after the purchases, both windows have closed.
    clock.now = T0 + 49 * HOUR;
    expect(await sweeper.sweepNow()).toBe(2);
    await ingest.close();
  });

  it("sweeps every sandbox even when one fails, logging that one by name", async () => {
    const { store, schema } = await stores.open("sweep-sandboxes", {
      buyers: "exists(commerce.purchases within last 2 days)",
    });
    // Listed before 'prod': a sandbox whose stored dataflow cannot be read, and one created
    // without a schema yet (no primary identity: no profiles, nothing to sweep).
    await createSandbox(store, "a_broken");
    await installDefaultSchema(store, "a_broken");
    await store.query(
      "a_broken",
      `INSERT INTO dataflows (id, sandbox, name, account_id, destination_id, details, marketing_actions,
         mapping, file_options, status, created_at, updated_at)
       VALUES ('corrupt', $sandbox, 'Corrupt', 'acc', 'http', '{', '[]', '{', '{}', 'enabled', $1, $1)`,
      [new Date(T0)],
    );
    await createSandbox(store, "b_empty");
    const clock = { now: T0 };
    const now = () => new Date(clock.now);
    const plans = createPlanCache();
    const ingest = createStreamingIngest({
      store,
      plans,
      metrics: createStreamingMetrics(),
      now,
      lingerMs: 0,
    });
    const logged: { sandbox?: string; msg: string }[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => logged.push(JSON.parse(line)) });
    const sweeper = createSweeper({ store, ingest, plans, now, logger });
    await ingest.ingestEvents(schema.sandbox, schema, [
      {
        type: "commerce.purchases",
        timestamp: new Date(T0).toISOString(),
        identity: { email: "ann@example.com" },
        properties: { priceTotal: 10 },
      },
    ]);

    clock.now = T0 + 49 * HOUR;
    expect(await sweeper.sweepNow()).toBe(1);
    expect(logged.map((l) => [l.sandbox, l.msg])).toEqual([
      ["a_broken", "time-based exit sweep of sandbox 'a_broken' failed; the other sandboxes are swept"],
    ]);
    await ingest.close();
  });
});
