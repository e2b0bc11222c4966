import type { Dialect } from "./types.ts";

const TABLE_REF = /\{([a-z_][a-z0-9_]*)\}/g;

/**
 * Turns a sandbox-scoped statement into plain SQL: `{table}` becomes the sandbox's own table and
 * `$sandbox` a bound parameter. A statement with neither is refused: it would read or write every
 * sandbox at once.
 */
export function scopeToSandbox(
  dialect: Dialect,
  sandbox: string,
  sql: string,
  params: readonly unknown[],
): { sql: string; params: unknown[] } {
  let scoped = false;
  let text = sql.replace(TABLE_REF, (_, name: string) => {
    scoped = true;
    return dialect.table(sandbox, name);
  });
  const bound = [...params];
  if (text.includes("$sandbox")) {
    scoped = true;
    bound.push(sandbox);
    text = text.replaceAll("$sandbox", `$${bound.length}`);
  }
  if (!scoped) throw new Error(`Statement is not scoped to a sandbox: ${sql.slice(0, 120)}`);
  return { sql: text, params: bound };
}
