export {
  dueRuns,
  endedBy,
  isClockDriven,
  isRecurring,
  nextRunAfter,
  parseSchedule,
  type Schedule,
  type ScheduleInput,
  scheduleSchema,
} from "./schedule.ts";
