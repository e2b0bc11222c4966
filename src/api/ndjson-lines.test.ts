import { describe, expect, it } from "vitest";
import { ndjsonLines } from "./ndjson-lines.ts";

async function linesOf(chunks: (string | Buffer)[], max: number) {
  const out = [];
  for await (const line of ndjsonLines(chunks, max)) out.push(line);
  return out;
}

describe("newline-delimited lines", () => {
  it("splits across chunks, keeps empty lines and a last line without a newline", async () => {
    expect(await linesOf(['{"a":', '1}\n\n{"b"', ":2}\r\n", "{}"], 100)).toEqual([
      { text: '{"a":1}' },
      { text: "" },
      { text: '{"b":2}\r' },
      { text: "{}" },
    ]);
  });

  it("decodes a character split between chunks", async () => {
    const bytes = Buffer.from('{"name":"Zoë"}\n', "utf8");
    const cut = bytes.indexOf(0xc3) + 1;
    expect(await linesOf([bytes.subarray(0, cut), bytes.subarray(cut)], 100)).toEqual([
      { text: '{"name":"Zoë"}' },
    ]);
  });

  it("reports a line over the limit by its size and goes on with the next", async () => {
    const long = "x".repeat(25);
    expect(await linesOf(["{}\n", long.slice(0, 10), long.slice(10), "\n{}\n", long], 20)).toEqual([
      { text: "{}" },
      { tooLongBytes: 25 },
      { text: "{}" },
      { tooLongBytes: 25 },
    ]);
  });

  it("drops a byte-order mark starting the body, and marks a line whose bytes are not UTF-8", async () => {
    expect(await linesOf(["\ufeff{}\n", Buffer.from([0x7b, 0xe9, 0x7d, 0x0a]), "\ufeff{}"], 100)).toEqual([
      { text: "{}" },
      { notUtf8: true },
      { text: "\ufeff{}" },
    ]);
  });
});
