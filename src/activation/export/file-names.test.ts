import { describe, expect, it } from "vitest";
import { isHeraldError } from "../../errors/index.ts";
import {
  DEFAULT_FILE_NAME_TEMPLATE,
  type FileNameContext,
  renderFileName,
  validateFileNameTemplate,
} from "./file-names.ts";
import { manifestFileName } from "./manifest.ts";

const context: FileNameContext = {
  destination: "drop",
  sandbox: "prod",
  dataflowId: "df1",
  dataflowName: "Gold members",
  segmentId: "gold",
  segmentName: "Gold",
  runId: "run1",
  time: new Date("2026-11-20T06:05:09Z"),
};

const problems = (template: string) =>
  validateFileNameTemplate(template, "segments.0.fileNameTemplate").map((i) => i.message);

const KNOWN =
  "%DESTINATION%, %SANDBOX%, %DATAFLOW_ID%, %DATAFLOW_NAME%, %SEGMENT_ID%, %SEGMENT_NAME%, %DATETIME%, %RUN_ID%, %TEXT%";

describe("file name templates", () => {
  it("accepts every placeholder, and a template with no date-time (each export replaces the last)", () => {
    for (const template of [
      DEFAULT_FILE_NAME_TEMPLATE,
      "%SANDBOX%_%DATAFLOW_ID%_%DATAFLOW_NAME%_%SEGMENT_NAME%_%RUN_ID%_%TEXT(daily)%_%DATETIME(yyyy-MM-dd)%",
      "%SEGMENT_ID%_%DATETIME()%",
      "%DATETIME(HH)%",
      "latest_%SEGMENT_ID%",
      "audience",
    ]) {
      expect(problems(template), template).toEqual([]);
    }
    expect(renderFileName("latest_%SEGMENT_ID%", context, 1, "csv")).toBe("latest_gold.csv");
  });

  it("refuses a date-time format with no date-time token, which would name every export alike", () => {
    expect(renderFileName("%SEGMENT_ID%_%DATETIME(qqq)%", context, 1, "csv")).toBe("gold_qqq.csv");
    expect(problems("%SEGMENT_ID%_%DATETIME(qqq)%")).toEqual([
      "segments.0.fileNameTemplate: %DATETIME(qqq)%: the format 'qqq' has no date-time part (yyyy, MM, dd, HH, mm, ss), so every export would get the same name and replace the last; write for example %DATETIME(yyyy-MM-dd)%",
    ]);
    // Tokens are case-sensitive, as in Java's patterns: YYYY-DD has none.
    expect(problems("%DATETIME(YYYY-DD)%")).toHaveLength(1);
  });

  it("refuses a placeholder that is never closed, naming it and where it starts", () => {
    expect(renderFileName("%SEGMENT_ID%_%DATETIME", context, 1, "csv")).toBe("gold_-DATETIME.csv");
    expect(problems("%SEGMENT_ID%_%DATETIME")).toEqual([
      "segments.0.fileNameTemplate: '%DATETIME' at character 14: a % starts a placeholder (%NAME%), and this one is never closed; did you mean %DATETIME%?",
    ]);
    expect(problems("%DATETIME(yyyyMMdd)")).toEqual([
      "segments.0.fileNameTemplate: '%DATETIME(yyyyMMdd)' at character 1: a % starts a placeholder (%NAME%), and this one is never closed; did you mean %DATETIME(yyyyMMdd)%?",
    ]);
    expect(problems("50% off_%DATETIME%")).toEqual([
      "segments.0.fileNameTemplate: '% off_' at character 3: a % starts a placeholder (%NAME%), and this one is never closed",
    ]);
  });

  it("names an unknown placeholder and lists the known ones", () => {
    expect(problems("%SEGMENTID%_%DATETIME%")).toEqual([
      `segments.0.fileNameTemplate: unknown placeholder %SEGMENTID%; the placeholders are ${KNOWN}`,
    ]);
    expect(problems("%segment_id%_%DATETIME%")).toEqual([
      `segments.0.fileNameTemplate: unknown placeholder %segment_id%; the placeholders are ${KNOWN}`,
    ]);
  });

  it("refuses parentheses where a placeholder takes none, and a %TEXT% without its text", () => {
    expect(problems("%SEGMENT_ID(x)%_%DATETIME%")).toEqual([
      "segments.0.fileNameTemplate: %SEGMENT_ID(x)%: %SEGMENT_ID% takes nothing in parentheses",
    ]);
    expect(problems("%TEXT%_%DATETIME%")).toEqual([
      "segments.0.fileNameTemplate: %TEXT% has no text; write it in parentheses, as in %TEXT(daily)%",
    ]);
  });

  it("reports every problem of a template at once, and names the field by default", () => {
    expect(problems("%NOPE%_%DATETIME(q)%_%RUN_ID")).toHaveLength(3);
    expect(validateFileNameTemplate("%NOPE%")[0]?.field).toBe("fileNameTemplate");
  });

  it("still refuses an unknown placeholder when rendering, naming it", () => {
    let message = "";
    try {
      renderFileName("%NOPE%_%DATETIME%", context, 1, "csv");
    } catch (error) {
      if (isHeraldError(error)) message = error.message;
    }
    expect(message).toBe(`fileNameTemplate: unknown placeholder %NOPE%; the placeholders are ${KNOWN}`);
  });

  it("keeps letters and digits of every script, so distinct names stay distinct, and replaces what a file name cannot hold", () => {
    const named = (segmentName: string) =>
      renderFileName("%SEGMENT_NAME%_%DATETIME(yyyyMMdd)%", { ...context, segmentName }, 1, "csv");
    expect(named("日本の顧客")).toBe("日本の顧客_20261120.csv");
    expect(named("中国の顧客")).toBe("中国の顧客_20261120.csv");
    expect(named("Клиенты Москва")).toBe("Клиенты-Москва_20261120.csv");
    expect(renderFileName("%TEXT(Clients Île-de-France été)%", context, 1, "csv")).toBe(
      "Clients-Île-de-France-été.csv",
    );
    // NFC: an é written as e + combining accent gives the same name as the precomposed one.
    expect(named("e\u0301te\u0301")).toBe(named("\u00e9t\u00e9"));
    // Scripts whose vowels are combining marks keep them.
    expect(named("हिन्दी")).toBe("हिन्दी_20261120.csv");
    // Separators, controls and what Windows, SMB and Azure refuse become `-`; ASCII names as before.
    expect(named('a/b\\c:d*e?f"g<h>i|j\u0000k\tl m')).toBe("a-b-c-d-e-f-g-h-i-j-k-l-m_20261120.csv");
    expect(named("Gold members")).toBe("Gold-members_20261120.csv");
    // No leading dot (a hidden file, or `..`).
    expect(renderFileName("%TEXT(..)%%SEGMENT_ID%", context, 1, "csv")).toBe("gold.csv");
  });

  it("refuses on part 1, before anything is written, a template whose manifest or part 1000 would pass 255 UTF-8 bytes", () => {
    const refusal = (template: string, within = context) => {
      try {
        renderFileName(template, within, 1, "csv");
      } catch (error) {
        if (isHeraldError(error)) return error.message;
        throw error;
      }
      return "";
    };
    // 236 bytes: part 1 is 240, part 1000 245, the manifest (`manifest-` ... `.json`) 250.
    expect(refusal("b".repeat(236))).toBe("");
    expect(manifestFileName("b".repeat(236), context)).toHaveLength(250);
    // 242 bytes: part 1 (246) fits, the manifest (256) would not: refused before the first file.
    expect(refusal("b".repeat(242))).toBe(
      `fileNameTemplate: the longest file name it can give, its manifest 'manifest-${"b".repeat(242)}.json', is 256 bytes in UTF-8; the limit is 255 bytes: shorten the template, or the names its placeholders hold`,
    );
    // Measured in bytes: 121 × é is 121 characters but 242 bytes.
    expect(refusal("é".repeat(121))).toMatch(/is 256 bytes in UTF-8/);
    expect(refusal("é".repeat(118))).toBe("");
    // Placeholders count as they expand: a 200-character dataflow name.
    const template = `%DATAFLOW_NAME%%TEXT(${"a".repeat(36)})%_%DATETIME(yyyyMMdd)%`;
    expect(refusal(template, { ...context, dataflowName: "D".repeat(200) })).toMatch(
      /its manifest 'manifest-D{200}a{36}_20261120\.json', is 259 bytes in UTF-8/,
    );
  });
});
