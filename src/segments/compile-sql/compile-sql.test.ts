import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engines, freshStore } from "../../../test/support/stores.ts";
import type { SchemaSnapshot } from "../../schema/index.ts";
import type { Store } from "../../store/index.ts";
import type { SegmentAst } from "../ast.ts";
import { parseSegment } from "../parse.ts";
import {
  insertScenario,
  prepareSandbox,
  scenarioCases,
  scenarioEvents,
  scenarioNow,
  scenarioProfiles,
  scenarioSegments,
} from "../test-fixtures.ts";
import { typecheckSegment } from "../typecheck.ts";
import { compileSegmentsToSql, compileSegmentToSql } from "./index.ts";

describe.each(engines)("segment SQL on %s", (engine) => {
  let store: Store;
  let schema: SchemaSnapshot;
  const definition = (text: string): SegmentAst => {
    const { ast, spans } = parseSegment(text, { eventFields: [...schema.eventFields.keys()] });
    typecheckSegment(ast, schema, spans);
    return ast;
  };
  const resolve = (id: string) => (scenarioSegments[id] ? definition(scenarioSegments[id]) : undefined);

  beforeAll(async () => {
    store = await freshStore(engine);
    schema = await prepareSandbox(store, "test");
    await insertScenario(store, "test", schema, scenarioProfiles, scenarioEvents);
  });
  afterAll(async () => {
    await store?.close();
  });

  it.each(scenarioCases)("%s", async (text, members) => {
    const compiled = compileSegmentToSql(definition(text), {
      dialect: store.dialect,
      schema,
      now: scenarioNow,
      resolve,
    });
    const rows = await store.query<{ _id: string }>("test", `${compiled.sql} ORDER BY 1`, compiled.params);
    expect(rows.map((r) => r._id)).toEqual(members);
  });

  it("binds every value as a parameter", () => {
    const compiled = compileSegmentToSql(
      definition(
        `homeAddress.city = "Robert'); DROP TABLE x; --" or count(commerce.purchases where currency = "EUR") > 1`,
      ),
      { dialect: store.dialect, schema, now: scenarioNow },
    );
    expect(compiled.sql).not.toContain("Robert");
    expect(compiled.sql).not.toContain("EUR");
    expect(compiled.params).toContain("Robert'); DROP TABLE x; --");
  });

  it("evaluates many segments in one pass", async () => {
    const segments = scenarioCases.slice(0, 40).map(([text], i) => ({ id: `s${i}`, ast: definition(text) }));
    const compiled = compileSegmentsToSql(segments, {
      dialect: store.dialect,
      schema,
      now: scenarioNow,
      resolve,
    });
    const rows = await store.query<Record<string, unknown>>(
      "test",
      `${compiled.sql} ORDER BY 1`,
      compiled.params,
    );
    compiled.columns.forEach((column, i) => {
      const members = rows.filter((r) => r[column] === true).map((r) => r._id);
      expect([scenarioCases[i]?.[0], members]).toEqual([scenarioCases[i]?.[0], scenarioCases[i]?.[1]]);
    });
  });

  it("refuses reference cycles", () => {
    expect(() =>
      compileSegmentToSql(definition('inSegment("loop_a")'), {
        dialect: store.dialect,
        schema,
        now: scenarioNow,
        resolve,
      }),
    ).toThrow(/cycle/);
  });
});
