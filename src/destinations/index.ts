export {
  type Account,
  type AccountDeps,
  type AccountPatch,
  type AccountUpdate,
  accountNames,
  accountPatchSchema,
  accountUpdateAuditDetails,
  accountVersion,
  checkNewAccount,
  createAccount,
  deleteAccount,
  getAccount,
  listAccounts,
  type NewAccount,
  newAccountSchema,
  openAccountConnection,
  recordsPerSecondSchema,
  requireKeyOpensAccounts,
  revalidateAccount,
  updateAccount,
} from "./accounts.ts";
export { type Catalog, createCatalog } from "./catalog.ts";
export { withDeadline } from "./deadline.ts";
export {
  askForMissingFields,
  type FieldToAsk,
  fieldsOf,
  fieldsToAsk,
  typedAnswer,
} from "./fields-to-ask.ts";
export { postJsonDocument } from "./http/index.ts";
export { destinationMigrations } from "./migrations.ts";
export { destinationDefinitions } from "./registry.ts";
export { type KeyStatus, keyStatus, type RotationReport, rotateSealedValues } from "./sealed-keys.ts";
export { retryAfterMsOf } from "./stream-batching.ts";
export type * from "./types.ts";
