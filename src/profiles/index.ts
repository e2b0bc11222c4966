export { type KnownEventTypes, knownEventTypes, listStoredEventTypes } from "./event-types.ts";
export {
  type EventWrite,
  type EventWrites,
  type InsertedEvents,
  insertEvents,
  type LookedUp,
  prepareEventWrites,
  validateEvent,
} from "./events.ts";
export { type FileIngestReport, type IngestFileOptions, ingestFile } from "./files/index.ts";
export { type GeneratedDataset, type GenerateOptions, generateDataset } from "./generate/index.ts";
export {
  type IngestReport,
  ingestEventRecords,
  ingestProfileRecords,
  validateEvents,
  validateProfiles,
} from "./ingest-records.ts";
export { lookupProfile, type ProfileView, parseIdentity } from "./lookup.ts";
export { profileMigrations } from "./migrations.ts";
export { flattenByPath, nestByPath, type ProfileWrite, validateProfile } from "./records.ts";
export { editDistance, suggestField } from "./suggest.ts";
export { upsertProfiles } from "./upsert.ts";
export {
  type Coerced,
  coerceValue,
  type FieldValue,
  isCalendarDate,
  parseTimestamp,
  valueToText,
} from "./values.ts";
