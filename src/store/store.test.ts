import { afterEach, describe, expect, it } from "vitest";
import { engines, freshStore } from "../../test/support/stores.ts";
import { createSandbox, DEFAULT_SANDBOX, listSandboxes, migrate, type Store } from "./index.ts";

describe.each(engines)("store on %s", (engine) => {
  let store: Store;
  afterEach(async () => store?.close());

  it("applies migrations once and creates sandboxes with their own tables", async () => {
    store = await freshStore(engine);
    expect(await migrate(store, engine)).toEqual([1]);
    expect(await migrate(store, engine)).toEqual([]);
    await createSandbox(store, DEFAULT_SANDBOX);
    await createSandbox(store, "dev");
    expect((await listSandboxes(store)).map((s) => s.name)).toEqual(["dev", "prod"]);
    await expect(createSandbox(store, "dev")).rejects.toThrow(/already exists/);
    await expect(createSandbox(store, "Bad Name")).rejects.toThrow(/invalid/);

    const now = new Date("2026-11-02T10:00:00Z");
    await store.query("prod", "INSERT INTO {profiles} (_id, _created_at, _updated_at) VALUES ($1, $2, $2)", [
      "a",
      now,
    ]);
    expect(await store.query("dev", "SELECT _id FROM {profiles}")).toEqual([]);
    const rows = await store.query<{ _id: string; _updated_at: Date; n: number }>(
      "prod",
      "SELECT _id, _updated_at, count(*) OVER () AS n FROM {profiles}",
    );
    expect(rows).toEqual([{ _id: "a", _updated_at: now, n: 1 }]);
  });

  it("refuses a statement that names no sandbox", async () => {
    store = await freshStore(engine);
    await expect(store.query("prod", "SELECT 1")).rejects.toThrow(/not scoped to a sandbox/);
  });

  it("binds $sandbox as a parameter and rolls back a failed transaction", async () => {
    store = await freshStore(engine);
    await migrate(store, engine);
    await expect(
      store.transaction(async (tx) => {
        await tx.queryGlobal("INSERT INTO sandboxes (name, title, created_at) VALUES ('x', 'x', $1)", [
          new Date(),
        ]);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await store.query("x", "SELECT name FROM sandboxes WHERE name = $sandbox")).toEqual([]);
  });

  it("bulk-inserts typed columns from text arrays", async () => {
    store = await freshStore(engine);
    await migrate(store, engine);
    await createSandbox(store, "prod");
    await store.query("prod", "CREATE TABLE {t} (s TEXT, i BIGINT, d DATE, b BOOLEAN, l TEXT[])");
    const select = store.dialect.unnestColumns(
      [
        { name: "s", kind: "string" },
        { name: "i", kind: "integer" },
        { name: "d", kind: "date" },
        { name: "b", kind: "boolean" },
        { name: "l", kind: "string[]" },
      ],
      1,
    );
    await store.query("prod", `INSERT INTO {t} (s, i, d, b, l) ${select}`, [
      ["it's", null],
      ["42", "7"],
      ["2024-02-29", null],
      ["true", "false"],
      [store.dialect.arrayText(['a"b', "c,d", "e'f"]), null],
    ]);
    expect(await store.query("prod", "SELECT * FROM {t} ORDER BY i")).toEqual([
      { s: null, i: 7, d: null, b: false, l: null },
      { s: "it's", i: 42, d: "2024-02-29", b: true, l: ['a"b', "c,d", "e'f"] },
    ]);
  });

  it("passes text and number arrays through unchanged, whatever their characters", async () => {
    store = await freshStore(engine);
    await migrate(store, engine);
    await createSandbox(store, "prod");
    const texts = [
      'say "hi"',
      "back\\slash",
      "a\\",
      "line\nbreak\ttab",
      "",
      "NULL",
      null,
      "{a,b}",
      "héllo 👋",
      " x ",
    ];
    const [row] = await store.query<{ t: unknown[]; n: unknown[] }>(
      "prod",
      "SELECT CAST($1 AS TEXT[]) AS t, CAST($2 AS BIGINT[]) AS n FROM {profiles} RIGHT JOIN (SELECT 1) AS one ON TRUE",
      [texts, [1, -2, null, 9007199254740991]],
    );
    expect(row?.t).toEqual(texts);
    // Engines read BIGINT[] back as their own kinds of integers.
    expect(row?.n.map((v) => (v === null ? null : Number(v)))).toEqual([1, -2, null, 9007199254740991]);
  });

  it("runs writes together, each with its own parameters, returning the last one's rows, or none of them", async () => {
    store = await freshStore(engine);
    await migrate(store, engine);
    await createSandbox(store, "prod");
    await store.query("prod", "CREATE TABLE {t} (k TEXT, n BIGINT)");
    await store.query("prod", "CREATE TABLE {u} (k TEXT, n BIGINT)");
    await store.query("prod", "INSERT INTO {t} VALUES ('old', 1)");
    const rows = await store.writeAll("prod", [
      { sql: "INSERT INTO {t} (k, n) VALUES ($1, CAST($2 AS BIGINT))", params: ["a", 10] },
      { sql: "UPDATE {t} SET n = CAST($2 AS BIGINT) WHERE k = $1", params: ["old", 2] },
      { sql: "INSERT INTO {u} (k, n) VALUES ($1, CAST($2 AS BIGINT)) RETURNING k, n", params: ["prod", 30] },
    ]);
    expect(rows).toEqual([{ k: "prod", n: 30 }]);
    expect(await store.query("prod", "SELECT k, n FROM {t} ORDER BY k")).toEqual([
      { k: "a", n: 10 },
      { k: "old", n: 2 },
    ]);

    // One failing write (a text where a number goes) and none is kept.
    await expect(
      store.writeAll("prod", [
        { sql: "INSERT INTO {t} (k, n) VALUES ($1, 3)", params: ["b"] },
        { sql: "INSERT INTO {u} (k, n) VALUES ('c', CAST($1 AS BIGINT))", params: ["not a number"] },
      ]),
    ).rejects.toThrow();
    expect(await store.query("prod", "SELECT count(*) AS n FROM {t} WHERE k = 'b'")).toEqual([{ n: 0 }]);
    expect(await store.writeAll("prod", [])).toEqual([]);
  });
});

describe.each(engines)("exportQuery on %s", (engine) => {
  let store: Store;
  afterEach(async () => store?.close());

  async function text(stream: NodeJS.ReadableStream): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks).toString("utf8");
  }

  it("streams CSV and JSON Lines written by the engine, with bound parameters", async () => {
    store = await freshStore(engine);
    await migrate(store, engine);
    await createSandbox(store, "prod");
    await store.query("prod", "CREATE TABLE {t} (id BIGINT, name TEXT, d DATE, ts TIMESTAMPTZ)");
    await store.query(
      "prod",
      `INSERT INTO {t} VALUES (1, 'a;b', DATE '2024-02-29', TIMESTAMPTZ '2026-11-02 10:00:00+00'),
                              (2, 'line
break "q"', NULL, NULL), (3, 'skip', NULL, NULL)`,
    );
    const csv = await text(
      store.exportQuery(
        "prod",
        `SELECT id, name, d, ${store.dialect.isoTimestamp("ts")} AS ts FROM {t} WHERE id < $1 ORDER BY id`,
        [3],
        {
          type: "csv",
          delimiter: ";",
          quote: '"',
          escape: '"',
          header: true,
          nullText: "",
        },
      ),
    );
    expect(csv.trim().split(/\r?\n(?=\d|id)/)).toEqual([
      "id;name;d;ts",
      '1;"a;b";2024-02-29;2026-11-02T10:00:00.000Z',
      '2;"line\nbreak ""q""";;',
    ]);
    const jsonl = await text(
      store.exportQuery("prod", "SELECT id, name FROM {t} WHERE id = $1", [1], { type: "jsonl" }),
    );
    expect(
      jsonl
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual([{ id: 1, name: "a;b" }]);
  });

  it("runs an export plan on one session: the setup first, then each query's rows, one CSV header", async () => {
    store = await freshStore(engine);
    await migrate(store, engine);
    await createSandbox(store, "prod");
    await store.query("prod", "CREATE TABLE {t} (id BIGINT)");
    await store.query("prod", "INSERT INTO {t} VALUES (1), (2), (3), (4), (5), (6)");
    // A session variable the queries read: the smallest id over $1.
    const [setup, first] =
      engine === "duckdb"
        ? ["SET VARIABLE herald_min = (SELECT min(id) FROM {t} WHERE id > $1)", "getvariable('herald_min')"]
        : [
            "SELECT set_config('herald.min', (SELECT CAST(min(id) AS TEXT) FROM {t} WHERE id > $1), false)",
            "CAST(current_setting('herald.min') AS BIGINT)",
          ];
    const plan = {
      setup: [{ sql: setup, params: [1] }],
      queries: [
        { sql: `SELECT id FROM {t} WHERE id >= ${first} AND id < $1 ORDER BY id`, params: [4] },
        { sql: "SELECT id FROM {t} WHERE id >= $1 ORDER BY id", params: [4] },
      ],
    };
    const csv = { type: "csv", delimiter: ",", quote: '"', escape: '"', header: true, nullText: "" } as const;
    expect(await text(store.exportPlan("prod", plan, csv))).toBe("id\n2\n3\n4\n5\n6\n");
  });

  it("stops the engine when the reader stops early, and the store goes on", async () => {
    store = await freshStore(engine);
    await migrate(store, engine);
    await createSandbox(store, "prod");
    await store.query("prod", "CREATE TABLE {t} (id BIGINT)");
    await store.query("prod", "INSERT INTO {t} SELECT * FROM generate_series(1, 2000000)");
    const stream = store.exportPlan(
      "prod",
      {
        setup: [],
        queries: [
          { sql: "SELECT id FROM {t}", params: [] },
          { sql: "SELECT id FROM {t}", params: [] },
        ],
      },
      { type: "jsonl" },
    );
    for await (const _ of stream) break;
    const [row] = await store.query<{ n: number }>("prod", "SELECT count(*) AS n FROM {t}");
    expect(Number(row?.n)).toBe(2000000);
  });

  it("fails the stream when the query fails", async () => {
    store = await freshStore(engine);
    await migrate(store, engine);
    await createSandbox(store, "prod");
    await expect(
      text(store.exportQuery("prod", "SELECT nope FROM {profiles}", [], { type: "jsonl" })),
    ).rejects.toThrow(/nope/);
  });

  it("knows the embedded engine's memory budget (the tests' 1GB), and none of PostgreSQL's", async () => {
    store = await freshStore(engine);
    if (engine === "duckdb") expect(Math.abs((store.memoryBudget ?? 0) - 1e9)).toBeLessThan(1e6);
    else expect(store.memoryBudget).toBeUndefined();
  });
});

describe.each(engines)("exportPlanFiles on %s", (engine) => {
  let store: Store;
  afterEach(async () => store?.close());
  const text = async (stream: NodeJS.ReadableStream) => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  };
  const csv = { type: "csv", delimiter: ",", quote: '"', escape: '"', header: true, nullText: "" } as const;

  async function storeWithRows(rows: number) {
    store = await freshStore(engine);
    await migrate(store, engine);
    await createSandbox(store, "prod");
    await store.query("prod", "CREATE TABLE {t} (id BIGINT)");
    await store.query("prod", `INSERT INTO {t} SELECT * FROM generate_series(1, ${rows})`);
  }

  it("gives each query a file of its own, each with its header, in order", async () => {
    await storeWithRows(5);
    const files: string[] = [];
    const plan = {
      setup: [],
      queries: [
        { sql: "SELECT id FROM {t} WHERE id <= $1 ORDER BY id", params: [2] },
        { sql: "SELECT id FROM {t} WHERE id > $1 ORDER BY id", params: [2] },
      ],
    };
    for await (const file of store.exportPlanFiles("prod", plan, csv)) files.push(await text(file));
    expect(files).toEqual(["id\n1\n2\n", "id\n3\n4\n5\n"]);
  });

  it("stops the engine when the loop is left early, and the store goes on", async () => {
    await storeWithRows(2_000_000);
    const query = { sql: "SELECT id FROM {t}", params: [] };
    const files = store.exportPlanFiles("prod", { setup: [], queries: [query, query] }, { type: "jsonl" });
    for await (const file of files) {
      for await (const _ of file) break;
      break;
    }
    const [row] = await store.query<{ n: number }>("prod", "SELECT count(*) AS n FROM {t}");
    expect(Number(row?.n)).toBe(2_000_000);
  });

  it("stops the engine when the loop is left before a file is read, and the store goes on", async () => {
    await storeWithRows(2_000_000);
    const query = { sql: "SELECT id FROM {t}", params: [] };
    for await (const _ of store.exportPlanFiles(
      "prod",
      { setup: [], queries: [query, query] },
      { type: "jsonl" },
    ))
      break;
    const [row] = await store.query<{ n: number }>("prod", "SELECT count(*) AS n FROM {t}");
    expect(Number(row?.n)).toBe(2_000_000);
  });

  it("fails the file whose query fails, after the good ones", async () => {
    await storeWithRows(3);
    const plan = {
      setup: [],
      queries: [
        { sql: "SELECT id FROM {t} ORDER BY id", params: [] },
        { sql: "SELECT nope FROM {t}", params: [] },
      ],
    };
    const files = store.exportPlanFiles("prod", plan, { type: "jsonl" });
    const iterator = files[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(await text(first.value as NodeJS.ReadableStream)).toBe('{"id":1}\n{"id":2}\n{"id":3}\n');
    const second = await iterator.next();
    await expect(text(second.value as NodeJS.ReadableStream)).rejects.toThrow(/nope/);
    await iterator.return?.(undefined);
  });
});

describe("exportPlanFiles on duckdb", () => {
  let store: Store;
  afterEach(async () => store?.close());

  it("runs the setup once for all the files", async () => {
    store = await freshStore("duckdb");
    await migrate(store, "duckdb");
    await createSandbox(store, "prod");
    await store.query("prod", "CREATE TABLE {runs} (n INTEGER)");
    const plan = {
      setup: [{ sql: "INSERT INTO {runs} VALUES (1)", params: [] }],
      queries: [0, 1, 2].map(() => ({ sql: "SELECT count(*) AS setups FROM {runs}", params: [] })),
    };
    const files: string[] = [];
    for await (const file of store.exportPlanFiles("prod", plan, { type: "jsonl" })) {
      const chunks: Buffer[] = [];
      for await (const chunk of file) chunks.push(chunk as Buffer);
      files.push(Buffer.concat(chunks).toString("utf8"));
    }
    expect(files).toEqual(Array(3).fill('{"setups":1}\n'));
  });
});

describe("exportQuery on duckdb", () => {
  let store: Store;
  afterEach(async () => store?.close());
  const text = async (stream: NodeJS.ReadableStream) => {
    for await (const _ of stream);
  };

  it("leaves the engine's insertion order on for everyone else", async () => {
    store = await freshStore("duckdb");
    await migrate(store, "duckdb");
    await createSandbox(store, "prod");
    await text(store.exportQuery("prod", "SELECT count(*) AS n FROM {profiles}", [], { type: "jsonl" }));
    const [row] = await store.queryGlobal<{ kept: boolean }>(
      "SELECT current_setting('preserve_insertion_order') AS kept",
    );
    expect(row?.kept).toBe(true);
  });
});
