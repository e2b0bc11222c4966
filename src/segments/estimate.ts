import type { SchemaSnapshot } from "../schema/index.ts";
import type { Store } from "../store/index.ts";
import type { SegmentAst } from "./ast.ts";
import { compileSampleToSql, compileSegmentToSql } from "./compile-sql/index.ts";
import { eventTypeWarnings } from "./event-type-warnings.ts";
import { segmentResolver } from "./segments.ts";
import { typecheckSegment } from "./typecheck.ts";

export interface SegmentEstimate {
  /** Estimated audience size (exact when `sampled` is false). */
  estimate: number;
  /** 95% confidence interval of the estimate. */
  low: number;
  high: number;
  sampled: boolean;
  /** Share of profiles read (1 when exact). */
  sampleFraction: number;
  totalProfiles: number;
  durationMs: number;
  /** Event types the draft reads that the sandbox has never stored (see eventTypeWarnings). */
  warnings: string[];
}

const BUCKETS = 10_000;

type EstimateOptions = { now?: Date; sampleSize?: number; exactBelow?: number };

/**
 * The size of a draft segment. Up to `exactBelow` profiles it is counted exactly; above, on a
 * deterministic hash sample of about `sampleSize` profiles (their events only), scaled up, with a
 * binomial 95% interval (finite-population corrected). Warns, as saving would, about event types
 * the sandbox has never stored.
 */
export async function estimateSegment(
  store: Store,
  sandbox: string,
  schema: SchemaSnapshot,
  ast: SegmentAst,
  options: EstimateOptions = {},
): Promise<SegmentEstimate> {
  const size = await estimateSize(store, sandbox, schema, ast, options);
  return { ...size, warnings: await eventTypeWarnings(store, sandbox, ast) };
}

async function estimateSize(
  store: Store,
  sandbox: string,
  schema: SchemaSnapshot,
  ast: SegmentAst,
  options: EstimateOptions,
): Promise<Omit<SegmentEstimate, "warnings">> {
  const started = performance.now();
  typecheckSegment(ast, schema);
  const now = options.now ?? new Date();
  const sampleSize = options.sampleSize ?? 200_000;
  const exactBelow = options.exactBelow ?? sampleSize;
  const resolve = await segmentResolver(store, sandbox);
  const [totalRow] = await store.query<{ n: number | bigint }>(
    sandbox,
    "SELECT count(*) AS n FROM {profiles}",
  );
  const total = Number(totalRow?.n ?? 0);
  const count = async (sql: string, params: unknown[]) => {
    const [row] = await store.query<{ n: number | bigint }>(
      sandbox,
      `SELECT count(*) AS n FROM (${sql}) AS audience`,
      params,
    );
    return Number(row?.n ?? 0);
  };
  if (total <= exactBelow) {
    const compiled = compileSegmentToSql(ast, { dialect: store.dialect, schema, now, resolve });
    const n = await count(compiled.sql, compiled.params);
    return {
      estimate: n,
      low: n,
      high: n,
      sampled: false,
      sampleFraction: 1,
      totalProfiles: total,
      durationMs: performance.now() - started,
    };
  }
  const buckets = Math.max(1, Math.ceil((BUCKETS * sampleSize) / total));
  const sample = { buckets, of: BUCKETS };
  const compiled = compileSegmentToSql(ast, { dialect: store.dialect, schema, now, resolve, sample });
  const everyone = compileSampleToSql({ dialect: store.dialect, sample });
  const [matched, sampled] = await Promise.all([
    count(compiled.sql, compiled.params),
    count(everyone.sql, everyone.params),
  ]);
  if (!sampled)
    return {
      estimate: 0,
      low: 0,
      high: 0,
      sampled: true,
      sampleFraction: 0,
      totalProfiles: total,
      durationMs: performance.now() - started,
    };
  const share = matched / sampled;
  const correction = Math.sqrt(Math.max(0, (total - sampled) / Math.max(1, total - 1)));
  const margin = 1.96 * Math.sqrt((share * (1 - share)) / sampled) * correction * total;
  const estimate = Math.round(share * total);
  return {
    estimate,
    low: Math.max(0, Math.floor(estimate - margin)),
    high: Math.min(total, Math.ceil(estimate + margin)),
    sampled: true,
    sampleFraction: sampled / total,
    totalProfiles: total,
    durationMs: performance.now() - started,
  };
}
