import type { Dialect, ExportPlan } from "./types.ts";

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

/** Every statement of an export plan scoped to the sandbox, its parameters as the engine binds them. */
export function scopePlan<V>(
  dialect: Dialect,
  sandbox: string,
  plan: ExportPlan,
  toValue: (value: unknown) => V,
): { setup: { sql: string; params: V[] }[]; queries: { sql: string; params: V[] }[] } {
  const bind = (statement: { sql: string; params: readonly unknown[] }) => {
    const scoped = scopeToSandbox(dialect, sandbox, statement.sql, statement.params);
    return { sql: scoped.sql, params: scoped.params.map(toValue) };
  };
  return { setup: plan.setup.map(bind), queries: plan.queries.map(bind) };
}
