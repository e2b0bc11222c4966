import { HeraldError } from "../errors/index.ts";
/**
 * Permission names as users of activation platforms know them. Every API route declares the one it
 * needs; roles grant them per sandbox (src/access/roles.ts).
 */
export const PERMISSIONS = [
  "View Destinations",
  "Manage Destinations",
  "Activate Destinations",
  "Activate Segment without Mapping",
  "View Profiles",
  "Manage Profiles",
  "View Segments",
  "Manage Segments",
  "View Identity Graph",
  "Apply Data Usage Labels",
  "View Data Usage Policies",
  "Manage Data Usage Policies",
  "View User Activity Log",
  "Manage Sandboxes",
  "Manage Customer Managed Key",
  "View Schemas",
  "Manage Schemas",
  // REFERENCE.md's list has no name for administering users, roles and others' API tokens.
  "Manage Users and Roles",
] as const;

export type Permission = (typeof PERMISSIONS)[number];

/**
 * Who is acting: the user a token belongs to (`id` is the user's name, as the audit log records
 * it), or the local administrator, with every permission, when authentication is off.
 */
export interface Actor {
  id: string;
  permissions: ReadonlySet<Permission>;
}

export const localAdministrator: Actor = { id: "local-admin", permissions: new Set(PERMISSIONS) };

export function hasPermission(actor: Actor, permission: Permission): boolean {
  return actor.permissions.has(permission);
}

/** Refuses an actor without the permission, naming it. */
export function requirePermission(actor: Actor, permission: Permission): void {
  if (!hasPermission(actor, permission)) {
    throw new HeraldError("forbidden", "forbidden", `This action needs the permission '${permission}'`);
  }
}
