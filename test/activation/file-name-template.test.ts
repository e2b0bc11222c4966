import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { parseDataflowInput } from "../../src/activation/dataflows.ts";
import { isHeraldError } from "../../src/errors/index.ts";
import type { Store } from "../../src/store/index.ts";
import { createFrenchSegment, dataflowFor } from "../support/activation.ts";
import { apiFor } from "../support/api.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";

const KNOWN =
  "%DESTINATION%, %SANDBOX%, %DATAFLOW_ID%, %DATAFLOW_NAME%, %SEGMENT_ID%, %SEGMENT_NAME%, %DATETIME%, %RUN_ID%, %TEXT%";

/** The dataflow with one segment per template, each naming its segment. */
function withTemplates(...templates: string[]) {
  const base = dataflowFor("account");
  const segment = base.segments[0];
  return {
    ...base,
    segments: templates.map((fileNameTemplate, i) => ({ ...segment, segmentId: `s${i}`, fileNameTemplate })),
  };
}

function issuesOf(input: unknown) {
  try {
    parseDataflowInput(input);
  } catch (error) {
    if (isHeraldError(error)) return error.issues;
    throw error;
  }
  return [];
}

describe("a dataflow's file name templates", () => {
  it("refuses a template that would write no date-time although one was meant, naming the segment's field", () => {
    expect(issuesOf(withTemplates("%SEGMENT_ID%_%DATETIME(qqq)%", "%SEGMENT_ID%_%DATETIME"))).toEqual([
      {
        field: "segments.0.fileNameTemplate",
        message: expect.stringMatching(
          /^segments\.0\.fileNameTemplate: %DATETIME\(qqq\)%: the format 'qqq' has no date-time part/,
        ),
      },
      {
        field: "segments.1.fileNameTemplate",
        message:
          "segments.1.fileNameTemplate: '%DATETIME' at character 14: a % starts a placeholder (%NAME%), and this one is never closed; did you mean %DATETIME%?",
      },
    ]);
  });

  it("accepts a template with no date-time at all: each export replaces the last, and a rerun writes the same name", () => {
    expect(() => parseDataflowInput(withTemplates("latest_%SEGMENT_ID%"))).not.toThrow();
  });

  describe("through the API", () => {
    let app: FastifyInstance | undefined;
    let store: Store | undefined;
    afterEach(async () => {
      await app?.close();
      await store?.close();
    });

    it("names an unknown placeholder and lists the known ones", async () => {
      ({ store } = await storeWithDefaultSchema("duckdb"));
      ({ app } = await apiFor(store));
      await createFrenchSegment(store);
      const base = dataflowFor("no-such-account");
      const response = await app.inject({
        method: "POST",
        url: "/v1/dataflows",
        payload: { ...base, segments: [{ ...base.segments[0], fileNameTemplate: "%SEGMENTID%_%DATETIME%" }] },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.message).toBe(
        `segments.0.fileNameTemplate: unknown placeholder %SEGMENTID%; the placeholders are ${KNOWN}`,
      );
      expect(response.json().error.issues).toEqual([
        {
          field: "segments.0.fileNameTemplate",
          message: `segments.0.fileNameTemplate: unknown placeholder %SEGMENTID%; the placeholders are ${KNOWN}`,
        },
      ]);
    });
  });
});
