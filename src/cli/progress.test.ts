import { afterEach, describe, expect, it, vi } from "vitest";
import { progressReporter } from "./progress.ts";

describe("progress off a terminal", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it("prints a line every few seconds, with the total once it is known", () => {
    vi.useFakeTimers({ now: new Date("2026-11-27T08:00:00Z") });
    const lines: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const progress = progressReporter("exporting");
    progress.update(10);
    progress.update(20, 200);
    vi.advanceTimersByTime(3_000);
    progress.update(150);
    expect(lines).toEqual(["exporting: 10 rows\n", "exporting: 150/200 rows\n"]);
  });

  it("ends on the last count given, not the one printed a few seconds before", () => {
    vi.useFakeTimers({ now: new Date("2026-11-27T08:00:00Z") });
    const lines: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const progress = progressReporter("loading p.csv");
    progress.update(2);
    progress.update(3);
    progress.stop();
    expect(lines).toEqual(["loading p.csv: 2 rows\n", "loading p.csv: 3 rows\n"]);
  });
});
