export { administrators, keepAnAdministrator, USER_ADMINISTRATION } from "./administrators.ts";
export {
  ACCESS_AUDIT_SANDBOX,
  type AuditEntry,
  type AuditInput,
  auditStatement,
  listAudit,
  recordAccessChange,
  recordAudit,
} from "./audit.ts";
export { type Caller, describeCaller } from "./caller.ts";
export { ADMINISTRATOR_ROLE_ID, accessMigrations } from "./migrations.ts";
export {
  type Actor,
  hasPermission,
  localAdministrator,
  PERMISSIONS,
  type Permission,
  requirePermission,
} from "./permissions.ts";
export { createRole, deleteRole, updateRole } from "./role-changes.ts";
export {
  getRole,
  getRoleByName,
  listRoles,
  permissionsIn,
  type Role,
  type RoleInput,
  type RolePatch,
  type RoleSandboxes,
  roleInputSchema,
  rolePatchSchema,
} from "./roles.ts";
export {
  type ApiToken,
  type Authenticated,
  actorOf,
  anyUsableToken,
  authenticateToken,
  createToken,
  getToken,
  hashToken,
  listTokens,
  requireTokenManager,
  revokeToken,
  TOKEN_PREFIX,
  type TokenInput,
  tokenInputSchema,
  unauthenticated,
} from "./tokens.ts";
export {
  createUser,
  deleteUser,
  getUser,
  getUserByName,
  listUsers,
  type User,
  type UserInput,
  type UserPatch,
  updateUser,
  userInputSchema,
  userPatchSchema,
} from "./users.ts";
