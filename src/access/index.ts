export { type AuditEntry, type AuditInput, auditStatement, listAudit, recordAudit } from "./audit.ts";
export {
  type Actor,
  hasPermission,
  localAdministrator,
  PERMISSIONS,
  type Permission,
  requirePermission,
} from "./permissions.ts";
