import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mapPartitionKeyToId } from "../../node_modules/@azure/event-hubs/dist/esm/impl/partitionKeyToIdMapper.js";
import {
  eventHubsConnector as connector,
  eventHubsDestination,
} from "../../src/destinations/event-hubs/index.ts";
import {
  createAccount,
  listAccounts,
  type OutboundRecord,
  type StreamSession,
} from "../../src/destinations/index.ts";
import { DEFAULT_SANDBOX } from "../../src/store/index.ts";
import { type EventHubsTestServer, startEventHubs } from "../servers/event-hubs.ts";
import { freePort } from "../support/postgres-cluster.ts";
import { accountDeps, errorOf, messageOf, numberedRecords, oversized } from "./account-deps.ts";

const key = "aGVyYWxkLXRlc3Qta2V5LWZvci1ldmVudC1odWJzLTAxMjM0NTY3ODk=";
let hubs: EventHubsTestServer;

const keyed = (overrides: Record<string, unknown> = {}) => ({
  namespace: hubs.namespace,
  sharedAccessKeyName: "herald-send",
  sharedAccessKey: key,
  useDevelopmentEmulator: true,
  ...overrides,
});

async function withSession<T>(eventHubName: string, use: (session: StreamSession) => Promise<T>): Promise<T> {
  const session = await connector.open(keyed(), { eventHubName });
  try {
    return await use(session);
  } finally {
    await session.close();
  }
}

const received = (hub: string) => hubs.messages.filter((m) => m.hub === hub);

beforeAll(async () => {
  hubs = await startEventHubs({
    hubs: {
      audiences: { partitions: 4 },
      bulk: { partitions: 4 },
      single: { partitions: 1 },
      partial: { partitions: 4 },
      oversize: { partitions: 2 },
      outage: { partitions: 2 },
      other: { partitions: 1 },
    },
    keys: [
      { name: "herald-send", key },
      { name: "listen-only", key: "bGlzdGVuLW9ubHkta2V5", rights: ["Listen"] },
      { name: "other-hub-only", key: "b3RoZXItaHViLWtleQ==", hub: "other" },
    ],
  });
});
afterAll(async () => {
  await hubs?.close();
});

describe("Azure Event Hubs: validation", () => {
  it("creates an account from a connection string, the string sealed", async () => {
    const deps = await accountDeps([eventHubsDestination]);
    try {
      const account = await createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "azure-event-hubs",
        name: "hub via connection string",
        connection: { connectionString: hubs.connectionString() },
        details: { eventHubName: "audiences" },
      });
      expect(account.connection).toEqual({});
      expect(account.secretsSet).toEqual(["connectionString"]);
      expect(JSON.stringify(account)).not.toContain(key);
    } finally {
      await deps.close();
    }
  });

  it("creates an account from namespace, key name and key, only the key sealed", async () => {
    const deps = await accountDeps([eventHubsDestination]);
    try {
      const account = await createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "azure-event-hubs",
        name: "hub via key",
        connection: keyed(),
        details: { eventHubName: "audiences" },
      });
      expect(account.connection).toEqual({
        namespace: hubs.namespace,
        sharedAccessKeyName: "herald-send",
        useDevelopmentEmulator: true,
      });
      expect(account.secretsSet).toEqual(["sharedAccessKey"]);
    } finally {
      await deps.close();
    }
  });

  it("refuses a wrong key (checked by the endpoint's SAS signature check) and saves nothing", async () => {
    const deps = await accountDeps([eventHubsDestination]);
    try {
      const error = await errorOf(
        createAccount(deps, DEFAULT_SANDBOX, {
          destinationId: "azure-event-hubs",
          name: "wrong key",
          connection: keyed({ sharedAccessKey: "d3Jvbmcta2V5" }),
          details: { eventHubName: "audiences" },
        }),
      );
      expect(error).toMatchObject({ kind: "auth_failed", code: "event_hubs_auth_failed" });
      expect(error.message).toContain("'herald-send'");
      expect(error.message).toContain("invalid signature");
      expect(error.message).not.toContain("d3Jvbmcta2V5");
      expect(await listAccounts(deps, DEFAULT_SANDBOX)).toEqual([]);
    } finally {
      await deps.close();
    }
  });

  it("refuses an unknown key name and a hub-scoped key used for another hub", async () => {
    const unknown = await errorOf(
      connector.validate(keyed({ sharedAccessKeyName: "nobody" }), { eventHubName: "audiences" }),
    );
    expect(unknown.kind).toBe("auth_failed");
    const scoped = await errorOf(
      connector.validate(
        keyed({ sharedAccessKeyName: "other-hub-only", sharedAccessKey: "b3RoZXItaHViLWtleQ==" }),
        {
          eventHubName: "audiences",
        },
      ),
    );
    expect(scoped.kind).toBe("auth_failed");
    await connector.validate(
      keyed({ sharedAccessKeyName: "other-hub-only", sharedAccessKey: "b3RoZXItaHViLWtleQ==" }),
      {
        eventHubName: "other",
      },
    );
  });

  it("names a missing event hub", async () => {
    const error = await errorOf(connector.validate(keyed(), { eventHubName: "no-such-hub" }));
    expect(error).toMatchObject({ kind: "not_found", code: "event_hub_not_found" });
    expect(error.message).toContain("'no-such-hub'");
  });

  it("reports a policy without the Send claim as forbidden", async () => {
    const error = await errorOf(
      connector.validate(
        keyed({ sharedAccessKeyName: "listen-only", sharedAccessKey: "bGlzdGVuLW9ubHkta2V5" }),
        {
          eventHubName: "audiences",
        },
      ),
    );
    expect(error).toMatchObject({ kind: "forbidden", code: "event_hubs_send_not_allowed" });
  });

  it("reports an unreachable namespace as unavailable", async () => {
    const port = await freePort();
    const error = await errorOf(
      connector.validate(keyed({ namespace: `127.0.0.1:${port}` }), { eventHubName: "audiences" }),
    );
    expect(error).toMatchObject({ kind: "unavailable", code: "event_hubs_unreachable" });
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("checks the connection's form before connecting", () => {
    const schema = eventHubsDestination.connectionSchema;
    expect(
      schema.safeParse({ connectionString: hubs.connectionString(), namespace: "x.servicebus.windows.net" })
        .success,
    ).toBe(false);
    expect(
      schema.safeParse({ namespace: "x.servicebus.windows.net", sharedAccessKeyName: "k" }).success,
    ).toBe(false);
    expect(schema.safeParse({ connectionString: "Endpoint=sb://x/;SharedAccessKeyName=k" }).success).toBe(
      false,
    );
    expect(schema.safeParse({}).success).toBe(false);
  });

  it("refuses a connection string made for another event hub", async () => {
    const error = await errorOf(
      connector.validate(
        { connectionString: `${hubs.connectionString()};EntityPath=other` },
        { eventHubName: "audiences" },
      ),
    );
    expect(error).toMatchObject({ kind: "validation" });
    expect(error.message).toContain("'other'");
  });
});

describe("Azure Event Hubs: delivery", () => {
  it("puts each profile's events on the partition the service would pick for its key, in order, one transfer per partition", async () => {
    const batch = numberedRecords(1000, 50);
    const before = hubs.transfers.length;
    const result = await withSession("audiences", (s) => s.sendBatch(batch));
    expect(result.failed).toEqual([]);
    const got = received("audiences");
    expect(got).toHaveLength(1000);
    expect(
      hubs.transfers
        .slice(before)
        .map((t) => t.partition)
        .sort(),
    ).toEqual(["0", "1", "2", "3"]);
    const perKey = new Map<string, { partition: string; seqs: number[] }>();
    for (const m of got) {
      const body = m.body as { profileId: string; seq: number };
      expect(body).toEqual(messageOf(batch[body.seq]));
      expect(m.contentType).toBe("application/json");
      const entry = perKey.get(body.profileId) ?? { partition: m.partition, seqs: [] };
      expect(m.partition).toBe(entry.partition);
      entry.seqs.push(body.seq);
      perKey.set(body.profileId, entry);
    }
    for (const [profile, { partition, seqs }] of perKey) {
      expect(partition).toBe(String(mapPartitionKeyToId(profile, 4)));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
  });

  it("cuts a batch over 1 MB into several transfers, each within the link's message size", async () => {
    const batch = numberedRecords(3000, 20, "z".repeat(2000));
    const before = hubs.transfers.length;
    const result = await withSession("bulk", (s) => s.sendBatch(batch));
    expect(result.failed).toEqual([]);
    const transfers = hubs.transfers.slice(before);
    expect(transfers.length).toBeGreaterThanOrEqual(7);
    for (const t of transfers) {
      expect(t.outcome).toBe("accepted");
      expect(t.bytes).toBeLessThanOrEqual(1024 * 1024);
    }
    const seqs = new Map<string, number[]>();
    for (const m of received("bulk")) {
      const body = m.body as { profileId: string; seq: number };
      seqs.set(body.profileId, [...(seqs.get(body.profileId) ?? []), body.seq]);
    }
    expect([...seqs.values()].flat()).toHaveLength(3000);
    for (const s of seqs.values()) expect(s).toEqual([...s].sort((a, b) => a - b));
  });

  it("fails an event over the message size without retry and delivers the rest", async () => {
    const batch = numberedRecords(4, 2);
    batch[2] = oversized(batch[2] as OutboundRecord, "q");
    const result = await withSession("oversize", (s) => s.sendBatch(batch));
    expect(result.failed).toEqual([
      { index: 2, retryable: false, error: expect.stringContaining("message size") },
    ]);
    expect(
      received("oversize")
        .map((m) => (m.body as { seq: number }).seq)
        .sort(),
    ).toEqual([0, 1, 3]);
  });

  it("rejects a batch refused whole (throttled) as rate_limited", async () => {
    hubs.refuseTransfers(1);
    const error = await errorOf(withSession("single", (s) => s.sendBatch(numberedRecords(10, 3))));
    expect(error).toMatchObject({ kind: "rate_limited", code: "event_hubs_throttled" });
    expect(received("single")).toEqual([]);
  });

  it("reports one refused partition's records as retryable failures and keeps the others", async () => {
    const batch = numberedRecords(40, 8);
    const result = await withSession("partial", async (s) => {
      hubs.refuseTransfers(1);
      return s.sendBatch(batch);
    });
    expect(result.failed.length).toBeGreaterThan(0);
    expect(result.failed.every((f) => f.retryable)).toBe(true);
    const failedKeys = new Set(result.failed.map((f) => batch[f.index]?.key));
    const partitionsOfFailed = new Set([...failedKeys].map((k) => mapPartitionKeyToId(String(k), 4)));
    expect(partitionsOfFailed.size).toBe(1);
    expect(received("partial")).toHaveLength(40 - result.failed.length);
    const again = result.failed.map((f) => batch[f.index] as OutboundRecord);
    expect((await withSession("partial", (s) => s.sendBatch(again))).failed).toEqual([]);
    expect(received("partial")).toHaveLength(40);
  });

  it("reports the namespace down as unavailable, and the same session delivers once it is back", async () => {
    const session = await connector.open(keyed(), { eventHubName: "outage" });
    try {
      expect((await session.sendBatch(numberedRecords(4, 2))).failed).toEqual([]);
      await hubs.stop();
      // A send issued at the very moment the connection drops waits for the SDK's operation timeout;
      // once the client has seen the drop, sends fail at once.
      await new Promise((r) => setTimeout(r, 500));
      const error = await errorOf(session.sendBatch(numberedRecords(4, 2)));
      expect(error).toMatchObject({ kind: "unavailable", code: "event_hubs_unreachable" });
      await hubs.start();
      let result: Awaited<ReturnType<StreamSession["sendBatch"]>> | undefined;
      for (let attempt = 0; attempt < 10 && !result; attempt++) {
        result = await session.sendBatch(numberedRecords(4, 2)).catch(async () => {
          await new Promise((r) => setTimeout(r, 200));
          return undefined;
        });
      }
      expect(result?.failed).toEqual([]);
      expect(received("outage")).toHaveLength(8);
    } finally {
      await session.close();
    }
  });
});
