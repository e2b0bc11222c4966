import { describe, expect, it } from "vitest";
import { csvOptionsSchema } from "./file-options.ts";

const problems = (input: unknown) => {
  const parsed = csvOptionsSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("CSV options", () => {
  it("takes a tab however it is spelled, and any single printable delimiter", () => {
    for (const tab of ["\t", "\\t", "tab"])
      expect(csvOptionsSchema.parse({ delimiter: tab }).delimiter).toBe("\t");
    for (const delimiter of [",", ";", "|", ":", "~"]) expect(problems({ delimiter })).toEqual([]);
  });

  it("refuses delimiters that would make rows ambiguous, naming the field", () => {
    expect(problems({ delimiter: ";;" })).toEqual([
      "delimiter: must be exactly one character (tab may be written \\t)",
    ]);
    expect(problems({ delimiter: '"', escape: "\\" })).toEqual([
      "delimiter: must be a printable character or tab, not a quote",
    ]);
    expect(problems({ delimiter: "\\", escape: "\\" })).toEqual([
      "delimiter: must differ from the escape character",
    ]);
    expect(problems({ delimiter: "'", escape: "'" })).toEqual([
      "delimiter: must differ from the escape character",
    ]);
    // Without quoting nothing is escaped: the escape character is free to be the delimiter.
    expect(problems({ delimiter: "'", escape: "'", quote: "" })).toEqual([]);
  });
});
