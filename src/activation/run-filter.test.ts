import { describe, expect, it } from "vitest";
import { HeraldError } from "../errors/index.ts";
import { parseRunFilter } from "./run-filter.ts";

describe("the run history's filters", () => {
  it("takes ISO times with an offset and days, and defaults the limit", () => {
    expect(parseRunFilter({ since: "2026-11-27", until: "2026-11-27T09:30:00+01:00" })).toEqual({
      since: new Date("2026-11-27T00:00:00Z"),
      until: new Date("2026-11-27T08:30:00Z"),
      limit: 100,
    });
  });

  it("names each faulty filter as the caller spells it", () => {
    const option = (path: readonly PropertyKey[]) => `--${String(path[0])}`;
    let error: unknown;
    try {
      parseRunFilter({ status: "done", since: "yesterday", limit: "0" }, option);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(HeraldError);
    expect((error as HeraldError).issues.map((i) => i.field)).toEqual(["--status", "--since", "--limit"]);
    expect((error as HeraldError).message).toMatch(/^Invalid run filter: --status: /);
    expect(() => parseRunFilter({ since: "2026-11-27", until: "2026-11-27" })).toThrow(
      "until: must be after since",
    );
  });
});
