import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HeraldError } from "../../errors/index.ts";
import { dueRuns, nextRunAfter, parseSchedule, type ScheduleInput, scheduleSchema } from "./index.ts";

const at = (iso: string) => new Date(iso);
const iso = (date: Date | null) => date?.toISOString() ?? null;

/** The runs strictly after `from`, in order, as ISO strings (stops early at null). */
function runsAfter(input: ScheduleInput, from: string, count: number, createdAt?: string): (string | null)[] {
  const schedule = parseSchedule(input);
  const runs: (string | null)[] = [];
  let cursor: Date | null = at(from);
  for (let i = 0; i < count && cursor; i++) {
    cursor = nextRunAfter(schedule, cursor, createdAt ? at(createdAt) : undefined);
    runs.push(iso(cursor));
  }
  return runs;
}

describe("nextRunAfter", () => {
  const cases: { name: string; schedule: ScheduleInput; after: string; runs: (string | null)[] }[] = [
    {
      name: "daily in UTC (the default zone), strictly after an instant equal to a run",
      schedule: { frequency: "daily", time: "02:00" },
      after: "2026-04-01T02:00:00.000Z",
      runs: ["2026-04-02T02:00:00.000Z", "2026-04-03T02:00:00.000Z"],
    },
    {
      name: "daily in Paris, winter (+01:00) then summer (+02:00)",
      schedule: { frequency: "daily", time: "06:15", timezone: "Europe/Paris" },
      after: "2026-03-27T12:00:00.000Z",
      runs: ["2026-03-28T05:15:00.000Z", "2026-03-29T04:15:00.000Z", "2026-03-30T04:15:00.000Z"],
    },
    {
      name: "daily late evening in Los Angeles falls on the next UTC day",
      schedule: { frequency: "daily", time: "23:30", timezone: "America/Los_Angeles" },
      after: "2026-06-10T00:00:00.000Z",
      runs: ["2026-06-10T06:30:00.000Z", "2026-06-11T06:30:00.000Z"],
    },
    {
      name: "daily in Kolkata (+05:30)",
      schedule: { frequency: "daily", time: "04:00", timezone: "Asia/Kolkata" },
      after: "2026-01-01T00:00:00.000Z",
      runs: ["2026-01-01T22:30:00.000Z", "2026-01-02T22:30:00.000Z"],
    },
    {
      name: "weekly on Monday in New York",
      schedule: { frequency: "weekly", time: "09:00", dayOfWeek: 1, timezone: "America/New_York" },
      after: "2026-04-01T00:00:00.000Z",
      runs: ["2026-04-06T13:00:00.000Z", "2026-04-13T13:00:00.000Z"],
    },
    {
      name: "weekly on Sunday (0), asked on a Sunday after its time: next week",
      schedule: { frequency: "weekly", time: "08:00", dayOfWeek: 0 },
      after: "2026-04-05T09:00:00.000Z",
      runs: ["2026-04-12T08:00:00.000Z"],
    },
    {
      name: "monthly on the 31st clamps to the month's last day (February 2026: 28)",
      schedule: { frequency: "monthly", time: "03:00", dayOfMonth: 31 },
      after: "2026-01-31T03:00:00.000Z",
      runs: ["2026-02-28T03:00:00.000Z", "2026-03-31T03:00:00.000Z", "2026-04-30T03:00:00.000Z"],
    },
    {
      name: "monthly on the 31st in the leap year 2028: February 29",
      schedule: { frequency: "monthly", time: "03:00", dayOfMonth: 31 },
      after: "2028-02-01T00:00:00.000Z",
      runs: ["2028-02-29T03:00:00.000Z", "2028-03-31T03:00:00.000Z"],
    },
    {
      name: "monthly on the 30th: February 28, then the 30th again",
      schedule: { frequency: "monthly", time: "00:00", dayOfMonth: 30, timezone: "Europe/Paris" },
      after: "2026-01-30T00:00:00.000Z",
      runs: ["2026-02-27T23:00:00.000Z", "2026-03-29T22:00:00.000Z"],
    },
    {
      name: "hourly every 8 from 02:00: 02:00, 10:00, 18:00",
      schedule: { frequency: "hourly", every: 8, startTime: "02:00" },
      after: "2026-04-01T01:59:59.999Z",
      runs: [
        "2026-04-01T02:00:00.000Z",
        "2026-04-01T10:00:00.000Z",
        "2026-04-01T18:00:00.000Z",
        "2026-04-02T02:00:00.000Z",
      ],
    },
    {
      name: "hourly every 6 from 09:30 repeats the same wall times each day (03:30, 09:30, ...)",
      schedule: { frequency: "hourly", every: 6, startTime: "09:30" },
      after: "2026-04-01T00:00:00.000Z",
      runs: ["2026-04-01T03:30:00.000Z", "2026-04-01T09:30:00.000Z", "2026-04-01T15:30:00.000Z"],
    },
    {
      name: "hourly every 12 with the default start 00:00, in Tokyo",
      schedule: { frequency: "hourly", every: 12, timezone: "Asia/Tokyo" },
      after: "2026-04-01T00:00:00.000Z",
      runs: ["2026-04-01T03:00:00.000Z", "2026-04-01T15:00:00.000Z"],
    },
    {
      name: "startDate in the future: the first run is on startDate (local day)",
      schedule: { frequency: "daily", time: "00:30", timezone: "Europe/Paris", startDate: "2026-05-10" },
      after: "2026-04-01T00:00:00.000Z",
      runs: ["2026-05-09T22:30:00.000Z", "2026-05-10T22:30:00.000Z"],
    },
    {
      name: "endDate is excluded: the last run is on the day before",
      schedule: { frequency: "daily", time: "10:00", timezone: "America/New_York", endDate: "2026-04-03" },
      after: "2026-04-01T00:00:00.000Z",
      runs: ["2026-04-01T14:00:00.000Z", "2026-04-02T14:00:00.000Z", null],
    },
    {
      name: "endDate in the schedule's zone: an instant already on the end day's UTC date still runs",
      schedule: { frequency: "daily", time: "21:00", timezone: "America/New_York", endDate: "2026-04-03" },
      after: "2026-04-01T12:00:00.000Z",
      runs: ["2026-04-02T01:00:00.000Z", "2026-04-03T01:00:00.000Z", null],
    },
    {
      name: "hourly within a one-day window",
      schedule: { frequency: "hourly", every: 12, startDate: "2026-04-01", endDate: "2026-04-02" },
      after: "2020-01-01T00:00:00.000Z",
      runs: ["2026-04-01T00:00:00.000Z", "2026-04-01T12:00:00.000Z", null],
    },
    {
      name: "past the end date: null",
      schedule: { frequency: "weekly", time: "10:00", dayOfWeek: 3, endDate: "2026-01-01" },
      after: "2026-04-01T00:00:00.000Z",
      runs: [null],
    },
    {
      name: "once at a future instant (offset notation), then nothing",
      schedule: { frequency: "once", at: "2026-04-10T09:00:00+02:00" },
      after: "2026-04-01T00:00:00.000Z",
      runs: ["2026-04-10T07:00:00.000Z", null],
    },
    {
      name: "once at a passed instant: null",
      schedule: { frequency: "once", at: "2026-04-10T07:00:00Z" },
      after: "2026-04-10T07:00:00.000Z",
      runs: [null],
    },
    {
      name: "once outside its window: never",
      schedule: { frequency: "once", at: "2026-04-10T07:00:00Z", endDate: "2026-04-10" },
      after: "2026-04-01T00:00:00.000Z",
      runs: [null],
    },
    {
      name: "afterEvaluation is not clock-driven",
      schedule: { frequency: "afterEvaluation" },
      after: "2026-04-01T00:00:00.000Z",
      runs: [null],
    },
    {
      name: "streaming is not clock-driven",
      schedule: { frequency: "streaming", timezone: "Europe/Paris" },
      after: "2026-04-01T00:00:00.000Z",
      runs: [null],
    },
  ];

  it.each(cases)("$name", ({ schedule, after, runs }) => {
    expect(runsAfter(schedule, after, runs.length)).toEqual(runs);
  });

  it("once without `at` runs at createdAt (as soon as activated), only if after `after`", () => {
    const once = parseSchedule({ frequency: "once" });
    const createdAt = at("2026-04-01T10:00:00.000Z");
    expect(iso(nextRunAfter(once, at("2026-04-01T09:59:59.999Z"), createdAt))).toBe(
      "2026-04-01T10:00:00.000Z",
    );
    expect(nextRunAfter(once, createdAt, createdAt)).toBeNull();
    expect(nextRunAfter(once, at("2026-04-01T09:00:00.000Z"))).toBeNull();
  });
});

describe("daylight saving time", () => {
  const cases: { name: string; schedule: ScheduleInput; after: string; runs: string[] }[] = [
    {
      name: "Paris spring forward: 02:30 does not exist on 2026-03-29 → 03:00 CEST (01:00Z)",
      schedule: { frequency: "daily", time: "02:30", timezone: "Europe/Paris" },
      after: "2026-03-28T12:00:00.000Z",
      runs: ["2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"],
    },
    {
      name: "Paris fall back: 02:30 happens twice on 2026-10-25 → once, the first (CEST, 00:30Z)",
      schedule: { frequency: "daily", time: "02:30", timezone: "Europe/Paris" },
      after: "2026-10-24T12:00:00.000Z",
      runs: ["2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"],
    },
    {
      name: "New York spring forward: 02:30 does not exist on 2026-03-08 → 03:00 EDT (07:00Z)",
      schedule: { frequency: "daily", time: "02:30", timezone: "America/New_York" },
      after: "2026-03-07T12:00:00.000Z",
      runs: ["2026-03-08T07:00:00.000Z", "2026-03-09T06:30:00.000Z"],
    },
    {
      name: "New York fall back: 01:30 happens twice on 2026-11-01 → once, the first (EDT, 05:30Z)",
      schedule: { frequency: "daily", time: "01:30", timezone: "America/New_York" },
      after: "2026-10-31T12:00:00.000Z",
      runs: ["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"],
    },
    {
      name: "weekly on Sunday across the Paris spring forward keeps 09:00 local",
      schedule: { frequency: "weekly", time: "09:00", dayOfWeek: 0, timezone: "Europe/Paris" },
      after: "2026-03-21T00:00:00.000Z",
      runs: ["2026-03-22T08:00:00.000Z", "2026-03-29T07:00:00.000Z"],
    },
    {
      name: "hourly every 3 from 02:00, Paris spring forward: 23:00, 03:00 (for 02:00), 05:00, 08:00",
      schedule: { frequency: "hourly", every: 3, startTime: "02:00", timezone: "Europe/Paris" },
      after: "2026-03-28T20:00:00.000Z",
      runs: [
        "2026-03-28T22:00:00.000Z",
        "2026-03-29T01:00:00.000Z",
        "2026-03-29T03:00:00.000Z",
        "2026-03-29T06:00:00.000Z",
      ],
    },
    {
      name: "hourly every 3 from 02:00, Paris fall back: 02:00 once (CEST), then 05:00 CET",
      schedule: { frequency: "hourly", every: 3, startTime: "02:00", timezone: "Europe/Paris" },
      after: "2026-10-24T20:00:00.000Z",
      runs: ["2026-10-24T21:00:00.000Z", "2026-10-25T00:00:00.000Z", "2026-10-25T04:00:00.000Z"],
    },
    {
      name: "hourly every 3 from 00:00, Paris fall back: 00:00 CEST, 03:00 CET (4 hours later)",
      schedule: { frequency: "hourly", every: 3, timezone: "Europe/Paris" },
      after: "2026-10-24T20:00:00.000Z",
      runs: ["2026-10-24T22:00:00.000Z", "2026-10-25T02:00:00.000Z", "2026-10-25T05:00:00.000Z"],
    },
    {
      name: "hourly every 3 from 02:00, New York spring forward: 23:00 EST, 03:00 EDT (for 02:00), 05:00",
      schedule: { frequency: "hourly", every: 3, startTime: "02:00", timezone: "America/New_York" },
      after: "2026-03-08T03:00:00.000Z",
      runs: ["2026-03-08T04:00:00.000Z", "2026-03-08T07:00:00.000Z", "2026-03-08T09:00:00.000Z"],
    },
    {
      name: "hourly every 3 from 01:00, New York fall back: 01:00 once (EDT), then 04:00 EST",
      schedule: { frequency: "hourly", every: 3, startTime: "01:00", timezone: "America/New_York" },
      after: "2026-11-01T01:00:00.000Z",
      runs: ["2026-11-01T02:00:00.000Z", "2026-11-01T05:00:00.000Z", "2026-11-01T09:00:00.000Z"],
    },
  ];

  it.each(cases)("$name", ({ schedule, after, runs }) => {
    expect(runsAfter(schedule, after, runs.length)).toEqual(runs);
  });

  it.each([
    ["Europe/Paris", "2026-03-27T00:00:00+01:00", "2026-10-24T00:00:00+02:00"],
    ["America/New_York", "2026-03-06T00:00:00-05:00", "2026-10-30T00:00:00-04:00"],
  ])(
    "hourly every 3 in %s runs exactly 8 times on each local day around both transitions",
    (zone, spring, fall) => {
      const schedule = parseSchedule({ frequency: "hourly", every: 3, timezone: zone });
      for (const weekStart of [spring, fall]) {
        const local = new Intl.DateTimeFormat("en-CA", { timeZone: zone, dateStyle: "short" });
        const perDay = new Map<string, number>();
        let cursor: Date | null = new Date(at(weekStart).getTime() - 1);
        const end = at(weekStart).getTime() + 5 * 86_400_000;
        while (cursor && cursor.getTime() < end - 3_600_000 * 3) {
          cursor = nextRunAfter(schedule, cursor);
          if (!cursor) break;
          const day = local.format(cursor);
          perDay.set(day, (perDay.get(day) ?? 0) + 1);
        }
        expect([...perDay.values()].slice(0, 4)).toEqual([8, 8, 8, 8]);
      }
    },
  );
});

describe("dueRuns", () => {
  const createdAt = "2026-03-01T12:00:00.000Z";
  const cases: {
    name: string;
    schedule: ScheduleInput;
    lastScheduledFor: string | null;
    now: string;
    createdAt?: string;
    due: string | null;
  }[] = [
    {
      name: "on time: the run whose instant just passed",
      schedule: { frequency: "daily", time: "02:00" },
      lastScheduledFor: "2026-04-01T02:00:00.000Z",
      now: "2026-04-02T02:00:30.000Z",
      due: "2026-04-02T02:00:00.000Z",
    },
    {
      name: "nothing new since the last run",
      schedule: { frequency: "daily", time: "02:00" },
      lastScheduledFor: "2026-04-02T02:00:00.000Z",
      now: "2026-04-03T01:59:59.999Z",
      due: null,
    },
    {
      name: "restart after missing four daily runs: only the latest one",
      schedule: { frequency: "daily", time: "02:00", timezone: "Europe/Paris" },
      lastScheduledFor: "2026-04-01T00:00:00.000Z",
      now: "2026-04-05T10:00:00.000Z",
      due: "2026-04-05T00:00:00.000Z",
    },
    {
      name: "restart after missing several hourly runs: only the latest one",
      schedule: { frequency: "hourly", every: 3, timezone: "America/New_York" },
      lastScheduledFor: "2026-04-01T04:00:00.000Z",
      now: "2026-04-01T20:59:00.000Z",
      due: "2026-04-01T19:00:00.000Z",
    },
    {
      name: "restart after missing two monthly runs (the 31st, clamped)",
      schedule: { frequency: "monthly", time: "06:00", dayOfMonth: 31 },
      lastScheduledFor: "2026-01-31T06:00:00.000Z",
      now: "2026-04-15T00:00:00.000Z",
      due: "2026-03-31T06:00:00.000Z",
    },
    {
      name: "first run: instants before the dataflow was created are not due",
      schedule: { frequency: "daily", time: "02:00" },
      lastScheduledFor: null,
      now: "2026-03-01T23:00:00.000Z",
      due: null,
    },
    {
      name: "first run: the first instant after creation",
      schedule: { frequency: "daily", time: "02:00" },
      lastScheduledFor: null,
      now: "2026-03-02T02:00:00.000Z",
      due: "2026-03-02T02:00:00.000Z",
    },
    {
      name: "a run at exactly createdAt is due",
      schedule: { frequency: "daily", time: "12:00" },
      lastScheduledFor: null,
      now: "2026-03-01T12:00:10.000Z",
      due: "2026-03-01T12:00:00.000Z",
    },
    {
      name: "missed runs up to the end date: the last one before the end day",
      schedule: { frequency: "daily", time: "08:00", endDate: "2026-03-10" },
      lastScheduledFor: "2026-03-05T08:00:00.000Z",
      now: "2026-06-01T00:00:00.000Z",
      due: "2026-03-09T08:00:00.000Z",
    },
    {
      name: "the window's last run already done: nothing",
      schedule: { frequency: "daily", time: "08:00", endDate: "2026-03-10" },
      lastScheduledFor: "2026-03-09T08:00:00.000Z",
      now: "2026-06-01T00:00:00.000Z",
      due: null,
    },
    {
      name: "startDate not reached: nothing",
      schedule: { frequency: "daily", time: "08:00", startDate: "2026-05-01" },
      lastScheduledFor: null,
      now: "2026-04-30T23:00:00.000Z",
      due: null,
    },
    {
      name: "spring-forward gap: the 02:30 Paris run is due from 01:00Z",
      schedule: { frequency: "daily", time: "02:30", timezone: "Europe/Paris" },
      lastScheduledFor: "2026-03-28T01:30:00.000Z",
      now: "2026-03-29T01:00:00.000Z",
      due: "2026-03-29T01:00:00.000Z",
    },
    {
      name: "fall back: the 02:30 Paris run is not due again at the second 02:30",
      schedule: { frequency: "daily", time: "02:30", timezone: "Europe/Paris" },
      lastScheduledFor: "2026-10-25T00:30:00.000Z",
      now: "2026-10-25T01:45:00.000Z",
      due: null,
    },
    {
      name: "once without `at`: due at creation",
      schedule: { frequency: "once" },
      lastScheduledFor: null,
      now: "2026-03-01T12:00:30.000Z",
      due: createdAt,
    },
    {
      name: "once without `at`, already run: nothing",
      schedule: { frequency: "once" },
      lastScheduledFor: createdAt,
      now: "2026-04-01T00:00:00.000Z",
      due: null,
    },
    {
      name: "once at a future instant: not yet",
      schedule: { frequency: "once", at: "2026-03-05T09:00:00Z" },
      lastScheduledFor: null,
      now: "2026-03-05T08:59:59.999Z",
      due: null,
    },
    {
      name: "once at an instant that has come (or was missed while down)",
      schedule: { frequency: "once", at: "2026-03-05T09:00:00Z" },
      lastScheduledFor: null,
      now: "2026-03-07T00:00:00.000Z",
      due: "2026-03-05T09:00:00.000Z",
    },
    {
      name: "once at an instant before the dataflow was created: never",
      schedule: { frequency: "once", at: "2026-02-01T09:00:00Z" },
      lastScheduledFor: null,
      now: "2026-03-07T00:00:00.000Z",
      due: null,
    },
    {
      name: "afterEvaluation is started by evaluations, never by the clock",
      schedule: { frequency: "afterEvaluation" },
      lastScheduledFor: null,
      now: "2026-04-01T00:00:00.000Z",
      due: null,
    },
  ];

  it.each(cases)("$name", (c) => {
    const schedule = parseSchedule(c.schedule);
    const due = dueRuns(
      schedule,
      c.lastScheduledFor ? at(c.lastScheduledFor) : null,
      at(c.now),
      at(c.createdAt ?? createdAt),
    );
    expect(iso(due)).toBe(c.due);
  });

  it("a scheduler ticking every 30 s starts each run exactly once, then catches up with one run", () => {
    const schedule = parseSchedule({ frequency: "hourly", every: 6, timezone: "Europe/Paris" });
    const from = at("2026-03-28T00:00:00.000Z").getTime();
    const started: string[] = [];
    let last: Date | null = null;
    const tick = (now: number) => {
      const due = dueRuns(schedule, last, new Date(now), new Date(from));
      if (due) {
        started.push(due.toISOString());
        last = due;
      }
    };
    for (let now = from; now < from + 86_400_000 * 2; now += 30_000) tick(now);
    // Down for three days (twelve runs missed), then one tick at 2026-04-02 03:00 Paris.
    tick(from + 86_400_000 * 5 + 3_600_000);
    expect(started).toEqual([
      "2026-03-28T05:00:00.000Z",
      "2026-03-28T11:00:00.000Z",
      "2026-03-28T17:00:00.000Z",
      "2026-03-28T23:00:00.000Z",
      "2026-03-29T04:00:00.000Z",
      "2026-03-29T10:00:00.000Z",
      "2026-03-29T16:00:00.000Z",
      "2026-03-29T22:00:00.000Z",
      "2026-04-01T22:00:00.000Z",
    ]);
  });
});

describe("scheduleSchema", () => {
  it("applies defaults: timezone UTC, hourly startTime 00:00", () => {
    expect(parseSchedule({ frequency: "hourly", every: 6 })).toEqual({
      frequency: "hourly",
      every: 6,
      startTime: "00:00",
      timezone: "UTC",
    });
  });

  it.each([
    ["a time out of range", { frequency: "daily", time: "25:00" }, "time"],
    ["a time without leading zero", { frequency: "daily", time: "7:05" }, "time"],
    [
      "an unknown time zone",
      { frequency: "daily", time: "07:00", timezone: "Mars/Olympus_Mons" },
      "timezone",
    ],
    [
      "endDate before startDate",
      { frequency: "daily", time: "07:00", startDate: "2026-05-01", endDate: "2026-04-01" },
      "endDate",
    ],
    [
      "endDate equal to startDate (an empty window)",
      { frequency: "daily", time: "07:00", startDate: "2026-05-01", endDate: "2026-05-01" },
      "endDate",
    ],
    [
      "a date that does not exist",
      { frequency: "daily", time: "07:00", startDate: "2026-02-30" },
      "startDate",
    ],
    ["dayOfWeek 7", { frequency: "weekly", time: "07:00", dayOfWeek: 7 }, "dayOfWeek"],
    ["dayOfMonth 0", { frequency: "monthly", time: "07:00", dayOfMonth: 0 }, "dayOfMonth"],
    ["every 5 hours", { frequency: "hourly", every: 5 }, "every"],
    ["a bad hourly startTime", { frequency: "hourly", every: 3, startTime: "24:00" }, "startTime"],
    ["a once `at` without offset", { frequency: "once", at: "2026-05-01T10:00:00" }, "at"],
    ["an unknown frequency", { frequency: "yearly", time: "07:00" }, "frequency"],
  ])("rejects %s, naming the field", (_name, input, field) => {
    let error: unknown;
    try {
      parseSchedule(input);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(HeraldError);
    const herald = error as HeraldError;
    expect(herald.kind).toBe("validation");
    expect(herald.issues.map((i) => i.field)).toEqual([field]);
    expect(herald.message).toContain(`${field}: `);
  });

  it("reports a schedule nested in a larger schema at its full path", () => {
    const result = scheduleSchema.array().safeParse([{ frequency: "daily", time: "25:00" }]);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path)).toEqual([[0, "time"]]);
  });
});

describe("properties", () => {
  const zones = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "Asia/Tokyo",
  ];
  const time = fc
    .tuple(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 1, 15, 30, 45, 59))
    .map(([h, m]) => `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`);
  const MS_2024 = Date.UTC(2024, 0, 1);
  const MS_2032 = Date.UTC(2032, 0, 1);
  const instant = fc.integer({ min: MS_2024, max: MS_2032 }).map((ms) => new Date(ms));
  const isoDay = fc
    .integer({ min: MS_2024 / 86_400_000, max: MS_2032 / 86_400_000 })
    .map((day) => new Date(day * 86_400_000).toISOString().slice(0, 10));
  const window = fc
    .record(
      { timezone: fc.constantFrom(...zones), startDate: isoDay, endDate: isoDay },
      { requiredKeys: ["timezone"] },
    )
    .map((w) => (w.startDate && w.endDate && w.endDate <= w.startDate ? { ...w, endDate: undefined } : w))
    .map(({ endDate, ...rest }) => (endDate ? { ...rest, endDate } : rest));
  const frequency = fc.oneof(
    fc.record({ frequency: fc.constant("once" as const), at: instant.map((d) => d.toISOString()) }),
    fc.constant({ frequency: "once" as const }),
    fc.record({ frequency: fc.constant("daily" as const), time }),
    fc.record({ frequency: fc.constant("weekly" as const), time, dayOfWeek: fc.integer({ min: 0, max: 6 }) }),
    fc.record({
      frequency: fc.constant("monthly" as const),
      time,
      dayOfMonth: fc.integer({ min: 1, max: 31 }),
    }),
    fc.record({
      frequency: fc.constant("hourly" as const),
      every: fc.constantFrom(3, 6, 8, 12),
      startTime: time,
    }),
  );
  const schedule = fc.tuple(frequency, window).map(([f, w]) => parseSchedule({ ...f, ...w }));

  it("nextRunAfter is strictly after `after`, and again strictly after its own result", () => {
    fc.assert(
      fc.property(schedule, instant, instant, (s, after, createdAt) => {
        const next = nextRunAfter(s, after, createdAt);
        if (!next) return;
        expect(next.getTime()).toBeGreaterThan(after.getTime());
        const again = nextRunAfter(s, next, createdAt);
        if (again) expect(again.getTime()).toBeGreaterThan(next.getTime());
      }),
      { numRuns: 2000 },
    );
  });

  it("dueRuns agrees with nextRunAfter: the latest run in (last, now], and none left before now", () => {
    fc.assert(
      fc.property(schedule, instant, fc.integer({ min: 0, max: 90 * 86_400_000 }), (s, last, span) => {
        const createdAt = new Date(last.getTime() - 86_400_000);
        const now = new Date(last.getTime() + span);
        const due = dueRuns(s, last, now, createdAt);
        const firstAfterLast = nextRunAfter(s, last, createdAt);
        if (due) {
          expect(due.getTime()).toBeGreaterThan(last.getTime());
          expect(due.getTime()).toBeLessThanOrEqual(now.getTime());
          const following = nextRunAfter(s, due, createdAt);
          if (following) expect(following.getTime()).toBeGreaterThan(now.getTime());
        } else if (firstAfterLast) {
          expect(firstAfterLast.getTime()).toBeGreaterThan(now.getTime());
        }
      }),
      { numRuns: 2000 },
    );
  });
});
