import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshStore } from "../../test/support/stores.ts";
import type { Store } from "../store/index.ts";
import { ageOn, birthdayKeys, clockAt, dateRange, localDate, startOfDay, timestampRange } from "./time.ts";

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe("calendar arithmetic in time zones", () => {
  it.each([
    ["2026-03-29", "Europe/Paris", "2026-03-28T23:00:00.000Z"],
    ["2026-03-30", "Europe/Paris", "2026-03-29T22:00:00.000Z"],
    ["2026-10-25", "Europe/Paris", "2026-10-24T22:00:00.000Z"],
    ["2026-01-01", "Pacific/Kiritimati", "2025-12-31T10:00:00.000Z"],
    ["2026-01-01", "America/New_York", "2026-01-01T05:00:00.000Z"],
    ["2026-01-01", "Asia/Kolkata", "2025-12-31T18:30:00.000Z"],
    // Brazil once moved clocks forward at midnight: that day began at 01:00.
    ["2018-11-04", "America/Sao_Paulo", "2018-11-04T03:00:00.000Z"],
  ])("%s starts in %s at %s", (date, zone, instant) => {
    expect(iso(startOfDay(date, zone))).toBe(instant);
    expect(localDate(startOfDay(date, zone), zone)).toBe(date);
    expect(localDate(startOfDay(date, zone) - 1, zone)).not.toBe(date);
  });

  it("resolves calendar windows against the local date", () => {
    const clock = clockAt(new Date("2026-03-31T22:30:00Z"), "Europe/Paris"); // already April 1st in Paris
    expect(clock.today).toBe("2026-04-01");
    const month = timestampRange({ kind: "calendar", period: "thisMonth" }, clock);
    expect([iso(month.lower?.value), iso(month.upper?.value)]).toEqual([
      "2026-03-31T22:00:00.000Z",
      "2026-04-30T22:00:00.000Z",
    ]);
    const last = timestampRange({ kind: "calendar", period: "lastMonth" }, clock);
    expect(iso(last.lower?.value)).toBe("2026-02-28T23:00:00.000Z");
    expect(dateRange({ kind: "last", duration: { amount: 1, unit: "weeks" } }, clock)).toEqual({
      lower: { value: "2026-03-25", inclusive: true },
      upper: { value: "2026-04-01", inclusive: true },
    });
    expect(timestampRange({ kind: "after", at: { type: "today" } }, clock)).toEqual({
      lower: { value: Date.parse("2026-04-01T22:00:00Z"), inclusive: true },
    });
  });

  it("counts ages and birthdays with 29 February", () => {
    expect(ageOn("2000-02-29", "2027-02-28")).toBe(26);
    expect(ageOn("2000-02-29", "2027-03-01")).toBe(27);
    expect(ageOn("2000-02-29", "2028-02-29")).toBe(28);
    expect(birthdayKeys("2027-02-27", 2)).toEqual(["02-27", "02-28", "03-01", "02-29"]);
    expect(birthdayKeys("2028-02-28", 1)).toEqual(["02-28", "02-29"]);
    expect(birthdayKeys("2026-12-31", 1)).toEqual(["12-31", "01-01"]);
  });
});

describe("local midnights agree with PostgreSQL's time-zone database", () => {
  let pg: Store;
  beforeAll(async () => {
    pg = await freshStore("postgres");
  });
  afterAll(async () => {
    await pg?.close();
  });

  it("for random dates and zones", async () => {
    const zones = [
      "Europe/Paris",
      "America/New_York",
      "Asia/Kolkata",
      "Pacific/Kiritimati",
      "Australia/Lord_Howe",
      "America/Santiago",
      "Asia/Tehran",
    ];
    const cases = fc.sample(
      fc.record({
        day: fc.integer({ min: 0, max: 365 * 12 }),
        zone: fc.constantFrom(...zones),
      }),
      { numRuns: 300, seed: 42 },
    );
    const dates = cases.map((c) =>
      new Date(Date.UTC(2018, 0, 1) + c.day * 86_400_000).toISOString().slice(0, 10),
    );
    const rows = await pg.queryGlobal<{ i: number; t: Date }>(
      `SELECT i, (CAST(d AS TIMESTAMP) AT TIME ZONE z) AS t
         FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[])) WITH ORDINALITY AS u(d, z, i)`,
      [dates, cases.map((c) => c.zone)],
    );
    const byIndex = new Map(rows.map((r) => [Number(r.i) - 1, r.t.toISOString()]));
    cases.forEach((c, i) => {
      const date = dates[i] ?? "";
      // PostgreSQL maps a skipped local midnight to the instant after the gap, as startOfDay does.
      expect([date, c.zone, iso(startOfDay(date, c.zone))]).toEqual([date, c.zone, byIndex.get(i)]);
    });
  });
});
