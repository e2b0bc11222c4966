import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { storeWithDefaultSchema } from "../../test/support/herald-store.ts";
import { engines, freshPostgresDatabase, freshStore } from "../../test/support/stores.ts";
import { installDefaultSchema, loadSchema, type SchemaSnapshot } from "../schema/index.ts";
import { createSandbox, DEFAULT_SANDBOX, migrate, openPostgresStore, type Store } from "../store/index.ts";
import {
  ingestEventRecords,
  ingestFile,
  insertEvents,
  knownEventTypes,
  listStoredEventTypes,
  prepareEventWrites,
  profileMigrations,
  validateEvents,
} from "./index.ts";

const event = (type: string, email = "ann@example.com") => ({
  type,
  timestamp: "2026-11-02T10:00:00Z",
  identity: { email },
});

const firstSeen = async (store: Store, sandbox: string) =>
  Object.fromEntries(
    (
      await store.query<{ event_type: string; first_seen: Date }>(
        sandbox,
        "SELECT event_type, first_seen FROM event_types WHERE sandbox = $sandbox",
      )
    ).map((r) => [r.event_type, new Date(r.first_seen).toISOString()]),
  );

describe.each(engines)("stored event types on %s", (engine) => {
  const stores: Store[] = [];
  let dir: string | undefined;
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  async function start(): Promise<{ store: Store; schema: SchemaSnapshot }> {
    const opened = await storeWithDefaultSchema(engine);
    stores.push(opened.store);
    return opened;
  }

  it("records the types of the events a batch and a file store, each once, with when first seen", async () => {
    const { store, schema } = await start();
    expect(await listStoredEventTypes(store, DEFAULT_SANDBOX)).toEqual([]);
    const monday = new Date("2026-11-02T10:00:00Z");
    const report = await ingestEventRecords(
      store,
      schema,
      [event("commerce.purchases"), event("web.pageView"), event("commerce.purchases")],
      0,
      monday,
    );
    expect(report).toMatchObject({ stored: 3, rejected: 0 });
    // A type only rejected events had (an identity no profile has) was not stored.
    await ingestEventRecords(store, schema, [
      { type: "app.crash", timestamp: "2026-11-02T10:00:00Z", identity: { crmId: "C-404" } },
    ]);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-types-"));
    const file = path.join(dir, "events.csv");
    fs.writeFileSync(
      file,
      "type,timestamp,identity.email\ncommerce.refunds,2026-11-03T10:00:00Z,bo@example.com\nweb.pageView,2026-11-03T11:00:00Z,bo@example.com\n",
    );
    // DuckDB loads a CSV file on its bulk path; PostgreSQL through the API's own code.
    expect(await ingestFile(store, schema, { path: file, kind: "events" })).toMatchObject({ stored: 2 });
    expect(await listStoredEventTypes(store, DEFAULT_SANDBOX)).toEqual([
      "commerce.purchases",
      "commerce.refunds",
      "web.pageView",
    ]);
    expect((await firstSeen(store, DEFAULT_SANDBOX))["web.pageView"]).toBe(monday.toISOString());
  });

  it("writes nothing more for types already stored, and records again a type whose write rolled back", async () => {
    const { store, schema } = await start();
    const known = knownEventTypes(store);
    const records = (type: string) => validateEvents(schema, [event(type)]).events;
    const recordsTypes = async (type: string) =>
      (await prepareEventWrites(store, schema, records(type), known)).statements.some((s) =>
        s.sql.includes("event_types"),
      );
    await ingestEventRecords(store, schema, [event("commerce.purchases")]);
    expect(await recordsTypes("commerce.purchases")).toBe(false);
    expect(await recordsTypes("web.pageView")).toBe(true);

    await expect(
      store.transaction(async (tx) => {
        await insertEvents({ ...tx, dialect: store.dialect }, schema, records("web.pageView"), known);
        throw new Error("the rest of the commit failed");
      }),
    ).rejects.toThrow(/the rest of the commit failed/);
    expect(await listStoredEventTypes(store, DEFAULT_SANDBOX)).toEqual(["commerce.purchases"]);
    await ingestEventRecords(store, schema, [event("web.pageView")]);
    expect(await listStoredEventTypes(store, DEFAULT_SANDBOX)).toEqual([
      "commerce.purchases",
      "web.pageView",
    ]);
  });

  it("backfills, when migrated, the types of the events each sandbox already stores", async () => {
    const store = await freshStore(engine);
    stores.push(store);
    await migrate(store, engine);
    for (const sandbox of [DEFAULT_SANDBOX, "dev", "empty"]) {
      await createSandbox(store, sandbox);
      await installDefaultSchema(store, sandbox);
    }
    // Events as stored before the table existed (ingestion now records types itself).
    const stored = [
      [DEFAULT_SANDBOX, "commerce.purchases", "2026-01-05T00:00:00.000Z"],
      [DEFAULT_SANDBOX, "commerce.purchases", "2026-01-02T00:00:00.000Z"],
      [DEFAULT_SANDBOX, "web.pageView", "2026-01-03T00:00:00.000Z"],
      ["dev", "app.open", "2026-01-04T00:00:00.000Z"],
    ];
    for (const [sandbox, type, at] of stored) {
      await store.query(
        sandbox as string,
        "INSERT INTO {events} (_id, _profile_id, _type, _ts, _ingested_at) VALUES ($1, $2, $3, $4, $4)",
        [`${type}-${at}`, "ann@example.com", type, at],
      );
    }
    expect(await migrate(store, engine, "profiles", profileMigrations)).toEqual([1]);
    expect(await firstSeen(store, DEFAULT_SANDBOX)).toEqual({
      "commerce.purchases": "2026-01-02T00:00:00.000Z",
      "web.pageView": "2026-01-03T00:00:00.000Z",
    });
    expect(await listStoredEventTypes(store, "dev")).toEqual(["app.open"]);
    expect(await listStoredEventTypes(store, "empty")).toEqual([]);
    expect(await migrate(store, engine, "profiles", profileMigrations)).toEqual([]);
  });
});

// Two Herald processes on one database: PostgreSQL only (DuckDB's file is one process's).
describe("stored event types with two processes on one PostgreSQL", () => {
  const stores: Store[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  it("keeps one row per type with two processes recording the same new types at once", async () => {
    const url = await freshPostgresDatabase();
    const [first, second] = [await openPostgresStore(url), await openPostgresStore(url)];
    stores.push(first, second);
    await migrate(first, "postgres");
    await migrate(first, "postgres", "profiles", profileMigrations);
    await createSandbox(first, DEFAULT_SANDBOX);
    await installDefaultSchema(first, DEFAULT_SANDBOX);
    const schema = await loadSchema(first, DEFAULT_SANDBOX);
    const types = ["a.one", "b.two", "c.three"];
    const batches = [first, second, first, second].map((store, i) =>
      ingestEventRecords(
        store,
        schema,
        (i % 2 ? [...types].reverse() : types).map((t) => event(t, `p${i}@example.com`)),
      ),
    );
    for (const report of await Promise.all(batches)) expect(report).toMatchObject({ stored: 3 });
    const monday = new Date("2026-11-02T10:00:00Z");
    await ingestEventRecords(first, schema, [event("d.four")], 0, monday);
    // The second process learns the type the first stored, and keeps when it was first seen.
    await ingestEventRecords(second, schema, [event("d.four")], 0, new Date("2026-11-09T10:00:00Z"));
    expect(await listStoredEventTypes(second, DEFAULT_SANDBOX)).toEqual([...types, "d.four"]);
    expect((await firstSeen(second, DEFAULT_SANDBOX))["d.four"]).toBe(monday.toISOString());
  });
});
