import { afterEach, describe, expect, it } from "vitest";
import { freshStore } from "../../test/support/stores.ts";
import { migrate, type Store } from "../store/index.ts";
import { createEvaluationScheduler, createSegment, latestDailyInstant, segmentMigrations } from "./index.ts";
import { prepareSandbox } from "./test-fixtures.ts";

/** A sandbox `test` with one segment, `adults`. */
async function storeWithAdults(): Promise<Store> {
  const store = await freshStore("duckdb");
  await prepareSandbox(store, "test");
  await migrate(store, store.engine, "segments", segmentMigrations);
  await createSegment(store, "test", {
    id: "adults",
    name: "Adults",
    definition: "age(person.birthDate) > 17",
  });
  return store;
}

describe("daily evaluation", () => {
  let store: Store | undefined;
  afterEach(async () => store?.close());

  it("finds the latest daily instant at or before now, in UTC", () => {
    expect(latestDailyInstant("02:00", new Date("2026-11-26T01:59:59Z")).toISOString()).toBe(
      "2026-11-25T02:00:00.000Z",
    );
    expect(latestDailyInstant("02:00", new Date("2026-11-26T02:00:00Z")).toISOString()).toBe(
      "2026-11-26T02:00:00.000Z",
    );
  });

  it("evaluates each segment once per day, catching up after downtime, and tells activation", async () => {
    store = await storeWithAdults();
    const created = new Date();
    let clock = new Date(created.getTime() + 60_000);
    const told: string[][] = [];
    const scheduler = createEvaluationScheduler(store, {
      time: "02:00",
      now: () => clock,
      onEvaluated: (sandbox, segmentId) => told.push([sandbox, segmentId]),
      onError: (error) => {
        throw error;
      },
    });
    // Created after today's 02:00 (or yesterday's): not due until the next one.
    expect(await scheduler.tick()).toEqual([]);
    // Herald was down for three days: one evaluation when it comes back, then none until tomorrow.
    clock = new Date(created.getTime() + 3 * 86_400_000);
    expect((await scheduler.tick()).map((e) => e.segmentId)).toEqual(["adults"]);
    expect(await scheduler.tick()).toEqual([]);
    expect(told).toEqual([["test", "adults"]]);
  });

  it("leaves out a segment whose stored AST is invalid, reporting it by name once a day", async () => {
    store = await storeWithAdults();
    const created = new Date();
    const broken = { version: 1, condition: { kind: "birthday", path: "person.birthDate", days: 400 } };
    await store.query(
      "test",
      `INSERT INTO segments (sandbox, id, name, description, definition, ast, created_at, updated_at)
       VALUES ($sandbox, 'birthdays', 'Birthdays', NULL, '(as stored)', $1, $2, $2)`,
      [JSON.stringify(broken), created],
    );
    const errors: string[] = [];
    const clock = new Date(created.getTime() + 86_400_000);
    const scheduler = createEvaluationScheduler(store, {
      time: "02:00",
      now: () => clock,
      onError: (error, { segmentId }) => errors.push(`${segmentId}: ${(error as Error).message}`),
    });
    expect((await scheduler.tick()).map((e) => e.segmentId)).toEqual(["adults"]);
    await scheduler.tick(); // the next minute's tick: reported already today
    expect(errors).toEqual([
      "birthdays: Segment 'birthdays' cannot be evaluated: its stored definition is invalid (ast.condition.days: Too big: expected number to be <=366); give it a new definition or delete it",
    ]);
  });
});
