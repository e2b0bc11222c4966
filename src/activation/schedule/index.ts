export {
  dueRuns,
  isClockDriven,
  nextRunAfter,
  parseSchedule,
  type Schedule,
  type ScheduleInput,
  scheduleSchema,
} from "./schedule.ts";
