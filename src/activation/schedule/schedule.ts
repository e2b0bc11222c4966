import { z } from "zod";
import { assertNever, parseInput } from "../../errors/index.ts";
import {
  civilDate,
  daysInMonth,
  epochDayAt,
  epochDayOfIsoDate,
  instantAtWallTime,
  isIsoDate,
  isValidTimeZone,
} from "./zoned-time.ts";

const timeOfDay = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be a time of day HH:mm, 00:00 to 23:59");

const isoDate = z.string().refine(isIsoDate, "must be a calendar date YYYY-MM-DD");

const timeZone = z.string().superRefine((name, ctx) => {
  if (!isValidTimeZone(name))
    ctx.addIssue({ code: "custom", message: `unknown time zone '${name}' (expected an IANA name)` });
});

/** Fields every schedule has: dates are local to `timezone`; the run window is [startDate, endDate). */
const scheduleWindow = {
  timezone: timeZone.default("UTC"),
  startDate: isoDate.optional(),
  endDate: isoDate.optional(),
};

/**
 * When a segment of a dataflow is exported, as in Adobe RTCDP and Dynamics 365 segment exports.
 *
 * Clock-driven: `once` (at `at`, or as soon as the dataflow is activated), `daily`, `weekly`
 * (dayOfWeek 0 = Sunday), `monthly` (dayOfMonth past the month's end means its last day) and
 * `hourly` (every 3, 6, 8 or 12 hours of local wall-clock time from `startTime`). Not
 * clock-driven: `afterEvaluation` (right after the segment's evaluation) and `streaming`.
 *
 * @example { "frequency": "weekly", "time": "06:30", "dayOfWeek": 1, "timezone": "Europe/Paris",
 *            "startDate": "2026-04-01", "endDate": "2026-07-01" }
 */
export const scheduleSchema = z
  .discriminatedUnion(
    "frequency",
    [
      z.object({
        frequency: z.literal("once"),
        at: z.iso.datetime({ offset: true }).optional(),
        ...scheduleWindow,
      }),
      z.object({ frequency: z.literal("daily"), time: timeOfDay, ...scheduleWindow }),
      z.object({
        frequency: z.literal("weekly"),
        time: timeOfDay,
        dayOfWeek: z.number().int().min(0).max(6),
        ...scheduleWindow,
      }),
      z.object({
        frequency: z.literal("monthly"),
        time: timeOfDay,
        dayOfMonth: z.number().int().min(1).max(31),
        ...scheduleWindow,
      }),
      z.object({
        frequency: z.literal("hourly"),
        every: z.literal([3, 6, 8, 12]),
        startTime: timeOfDay.default("00:00"),
        ...scheduleWindow,
      }),
      z.object({ frequency: z.literal("afterEvaluation"), ...scheduleWindow }),
      z.object({ frequency: z.literal("streaming"), ...scheduleWindow }),
    ],
    { error: "must be one of once, daily, weekly, monthly, hourly, afterEvaluation, streaming" },
  )
  .superRefine((schedule, ctx) => {
    if (schedule.startDate && schedule.endDate && schedule.endDate <= schedule.startDate)
      ctx.addIssue({
        code: "custom",
        path: ["endDate"],
        message: `must be after startDate ${schedule.startDate} (the end day itself is not included)`,
      });
  });

export type Schedule = z.infer<typeof scheduleSchema>;
export type ScheduleInput = z.input<typeof scheduleSchema>;
type RecurringSchedule = Extract<Schedule, { frequency: "daily" | "weekly" | "monthly" | "hourly" }>;

/** Validates a schedule; a validation error names each faulty field (`time`, `timezone`, `endDate`). */
export function parseSchedule(input: unknown): Schedule {
  return parseInput(scheduleSchema, input, "schedule");
}

/**
 * The field that leaves a clock-driven schedule no run from `now` on (`at` already passed, or
 * `endDate`), if any: such a schedule would be saved and never run.
 */
export function endedBy(schedule: Schedule, now: Date): "at" | "endDate" | undefined {
  if (!isClockDriven(schedule)) return undefined;
  if (nextRunAfter(schedule, new Date(now.getTime() - 1), now) !== null) return undefined;
  return schedule.frequency === "once" && schedule.at ? "at" : "endDate";
}

/** False for schedules driven by events rather than the clock (`afterEvaluation`, `streaming`). */
export function isClockDriven(schedule: Schedule): boolean {
  return schedule.frequency !== "afterEvaluation" && schedule.frequency !== "streaming";
}

/** True for the schedules that repeat on the clock (`daily`, `weekly`, `monthly`, `hourly`). */
export function isRecurring(schedule: Schedule): schedule is RecurringSchedule {
  switch (schedule.frequency) {
    case "daily":
    case "weekly":
    case "monthly":
    case "hourly":
      return true;
    case "once":
    case "afterEvaluation":
    case "streaming":
      return false;
    default:
      return assertNever(schedule, "schedule frequency");
  }
}

/**
 * The first scheduled instant strictly after `after`, or null when none remains (past the end
 * date, a `once` already passed) or the schedule is not clock-driven. `createdAt` is when a `once`
 * without `at` runs: as soon as the dataflow is activated.
 *
 * @example nextRunAfter({ frequency: "daily", time: "02:30", timezone: "Europe/Paris" },
 *   new Date("2026-01-10T12:00:00Z")) // 2026-01-11T01:30:00Z
 */
export function nextRunAfter(schedule: Schedule, after: Date, createdAt?: Date): Date | null {
  switch (schedule.frequency) {
    case "afterEvaluation":
    case "streaming":
      return null;
    case "once": {
      const run = onceRun(schedule, createdAt);
      return run && run.getTime() > after.getTime() ? run : null;
    }
    case "daily":
    case "weekly":
    case "monthly":
    case "hourly":
      return nextRecurringRun(schedule, after);
    default:
      return assertNever(schedule, "schedule frequency");
  }
}

/**
 * What the scheduler should start now: the latest scheduled instant in (lastScheduledFor, now]
 * — or in [createdAt, now] before the first run — or null when nothing is due.
 *
 * When Herald was down across several scheduled instants, only the LATEST one is returned: one
 * catch-up run, not a burst. An export writes the audience as it is now, so replaying missed
 * instants would write the same audience several times (and, for incremental exports, the changes
 * since the last success are all in the one run anyway). The caller records the returned instant
 * as `lastScheduledFor`, which makes the skipped ones no longer due.
 */
export function dueRuns(
  schedule: Schedule,
  lastScheduledFor: Date | null,
  now: Date,
  createdAt: Date,
): Date | null {
  // Exclusive lower bound; before the first run, an instant equal to createdAt is still due.
  const notAfter = lastScheduledFor?.getTime() ?? createdAt.getTime() - 1;
  switch (schedule.frequency) {
    case "afterEvaluation":
    case "streaming":
      return null;
    case "once": {
      const run = onceRun(schedule, createdAt);
      return run && run.getTime() > notAfter && run.getTime() <= now.getTime() ? run : null;
    }
    case "daily":
    case "weekly":
    case "monthly":
    case "hourly":
      return latestRecurringRun(schedule, now, notAfter);
    default:
      return assertNever(schedule, "schedule frequency");
  }
}

/** Every recurring schedule runs at least once in any 31 consecutive days (monthly clamps to the end). */
const MAX_DAYS_BETWEEN_RUNS = 31;

interface DayWindow {
  /** First local day with runs, as an epoch day. */
  first: number;
  /** First local day without runs again (endDate is excluded). */
  end: number;
}

function dayWindow(schedule: Schedule): DayWindow {
  return {
    first: schedule.startDate ? epochDayOfIsoDate(schedule.startDate) : Number.NEGATIVE_INFINITY,
    end: schedule.endDate ? epochDayOfIsoDate(schedule.endDate) : Number.POSITIVE_INFINITY,
  };
}

function onceRun(schedule: Extract<Schedule, { frequency: "once" }>, createdAt?: Date): Date | null {
  const run = schedule.at ? new Date(schedule.at) : createdAt;
  if (!run) return null;
  const { first, end } = dayWindow(schedule);
  const day = epochDayAt(run, schedule.timezone);
  return day >= first && day < end ? run : null;
}

function minutesOf(time: string): number {
  const [hours, minutes] = time.split(":").map(Number);
  return (hours ?? 0) * 60 + (minutes ?? 0);
}

/** Wall-clock times (minutes after midnight, ascending) at which the schedule runs on a local day. */
function runMinutesOn(schedule: RecurringSchedule, epochDay: number): number[] {
  switch (schedule.frequency) {
    case "daily":
      return [minutesOf(schedule.time)];
    case "weekly":
      return civilDate(epochDay).weekday === schedule.dayOfWeek ? [minutesOf(schedule.time)] : [];
    case "monthly": {
      const { year, month, day } = civilDate(epochDay);
      return day === Math.min(schedule.dayOfMonth, daysInMonth(year, month))
        ? [minutesOf(schedule.time)]
        : [];
    }
    case "hourly": {
      // `every` divides 24, so startTime + k×every (any integer k) is the same set of wall times
      // each day: every 8 from 10:00 runs at 02:00, 10:00 and 18:00.
      const step = schedule.every * 60;
      const minutes: number[] = [];
      for (let m = minutesOf(schedule.startTime) % step; m < 24 * 60; m += step) minutes.push(m);
      return minutes;
    }
    default:
      return assertNever(schedule, "schedule frequency");
  }
}

/**
 * The instants of a local day's runs, ascending. Wall times resolve to instants monotonically
 * (first occurrence in a repeated hour, end of a skipped one), so runs of later days never come
 * before runs of earlier days and the scans below can stop at the first match.
 */
function runsOn(schedule: RecurringSchedule, epochDay: number): Date[] {
  return runMinutesOn(schedule, epochDay).map((m) => instantAtWallTime(epochDay, m, schedule.timezone));
}

function nextRecurringRun(schedule: RecurringSchedule, after: Date): Date | null {
  const { first, end } = dayWindow(schedule);
  // From the day before: a run resolved forward out of a DST gap may belong to the previous day.
  const from = Math.max(epochDayAt(after, schedule.timezone) - 1, first);
  for (let day = from; day < end && day <= from + MAX_DAYS_BETWEEN_RUNS + 1; day++) {
    for (const run of runsOn(schedule, day)) if (run.getTime() > after.getTime()) return run;
  }
  return null;
}

/** The latest run at or before `now`, if it is later than `notAfter` (epoch ms). */
function latestRecurringRun(schedule: RecurringSchedule, now: Date, notAfter: number): Date | null {
  const { first, end } = dayWindow(schedule);
  const lowest = Math.max(epochDayAt(new Date(notAfter), schedule.timezone) - 1, first);
  for (let day = Math.min(epochDayAt(now, schedule.timezone) + 1, end - 1); day >= lowest; day--) {
    const runs = runsOn(schedule, day);
    for (let i = runs.length - 1; i >= 0; i--) {
      const run = runs[i];
      if (run && run.getTime() <= now.getTime()) return run.getTime() > notAfter ? run : null;
    }
  }
  return null;
}
