import pino from "pino";
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.ts";
import { createStreamingService } from "../../src/streaming/index.ts";
import { apiFor } from "../support/api.ts";
import { engines } from "../support/stores.ts";
import { streamingStores } from "./harness.ts";

const LINES = 4_500;

describe.each(engines)("a newline-delimited stream whose store fails part-way (%s)", (engine) => {
  const stores = streamingStores(engine);

  it("answers with the rows not stored, which are exactly the ones missing from the store, and audits the rest", async () => {
    const created = await stores.open(`interrupted-${engine}`, { gold: 'loyalty.tier = "gold"' });
    // From the second commit on, ingestion fails as with a lost connection (not a HeraldError: an
    // internal fault); the audit entry written after goes through the store itself.
    // (A commit is a transaction, or on PostgreSQL a commit without profile writes one writeAll.)
    let commits = 0;
    const lost = () => ++commits >= 2 && new Error("Connection terminated unexpectedly");
    const failing: Store = {
      ...created.store,
      transaction: (work) => {
        const error = lost();
        return error ? Promise.reject(error) : created.store.transaction(work);
      },
      writeAll: (sandbox, statements) => {
        const error = lost();
        return error ? Promise.reject(error) : created.store.writeAll(sandbox, statements);
      },
    };
    const streaming = createStreamingService(
      { ...created.deps, store: failing },
      { logger: pino({ level: "silent" }) },
    );
    const { app } = await apiFor(created.store, { streaming } as Parameters<typeof apiFor>[1]);
    const lines = Array.from({ length: LINES }, (_, n) =>
      n === 7
        ? "{not json"
        : JSON.stringify({
            type: "web.pageView",
            timestamp: "2026-11-27T08:00:00Z",
            identity: { email: `p${n % 50}@example.com` },
            properties: { page: `row ${n}` },
          }),
    );
    const response = await app.inject({
      method: "POST",
      url: "/v1/events/stream",
      headers: { "content-type": "application/x-ndjson" },
      payload: lines.join("\n"),
    });

    expect(response.statusCode, response.body).toBe(500);
    const { error } = response.json() as {
      error: { code: string; message: string; issues: { row: number; message: string }[] };
    };
    expect(error.code).toBe("stream_interrupted");
    expect(error.message).toMatch(
      /^The stream's ingestion failed at row \d+: internal error \(reference [0-9a-f-]{36}\)/,
    );
    expect(error.message).not.toContain("Connection terminated");
    // Rows are line numbers from 1: record n is on line n + 1.
    expect(error.issues[0]).toEqual({ row: 8, message: expect.stringMatching(/^line is not valid JSON/) });
    // Every row the answer does not name was stored, and no row it names was.
    const notStored = new Set<number>();
    for (const issue of error.issues.slice(1)) {
      const range = /^rows (\d+)-(\d+) not stored/.exec(issue.message);
      const rest = /^rows from (\d+) on/.exec(issue.message);
      const [from, to] = range ? [Number(range[1]), Number(range[2])] : [Number(rest?.[1]), LINES];
      expect(from).toBe(issue.row);
      for (let line = from; line <= to; line++) notStored.add(line - 1);
    }
    expect(notStored.size).toBeGreaterThan(0);
    const rows = await created.store.query<{ page: string }>("prod", "SELECT page FROM {events}");
    const stored = new Set(rows.map((r) => Number(r.page.slice(4))));
    for (let n = 0; n < LINES; n++) {
      if (n !== 7) expect(stored.has(n), `row ${n}`).toBe(!notStored.has(n));
    }
    const [audit] = await created.store.queryGlobal<{ details: unknown }>(
      "SELECT details FROM audit_log WHERE action = 'ingest' AND resource = 'events'",
    );
    const details = typeof audit?.details === "string" ? JSON.parse(audit.details) : audit?.details;
    expect(details).toMatchObject({ stored: stored.size, stream: true, interrupted: true });
    await app.close();
  });
});
