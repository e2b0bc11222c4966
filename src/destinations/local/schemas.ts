import path from "node:path";
import { z } from "zod";

export const localConnectionSchema = z.object({
  root: z
    .string()
    .min(1)
    .refine((value) => path.isAbsolute(value), "must be an absolute path, e.g. /srv/herald/exports")
    .describe(
      "Absolute path of a directory on the Herald server, one of HERALD_LOCAL_ROOTS or inside one; dataflows write inside it",
    ),
});
export type LocalConnection = z.infer<typeof localConnectionSchema>;

/** A folder inside the root: relative, and never climbing out of it with `..`. */
export const localDetailsSchema = z.object({
  folderPath: z
    .string()
    .optional()
    .refine((value) => value === undefined || !path.isAbsolute(value), "must be relative to the root")
    .refine(
      (value) => value === undefined || !value.split(/[/\\]/).includes(".."),
      "must not contain '..': files stay inside the root",
    )
    .refine((value) => value === undefined || !value.includes("\0"), "must not contain NUL")
    .describe("Folder inside the root, e.g. exports/daily; the root itself when omitted"),
});
export type LocalDetails = z.infer<typeof localDetailsSchema>;
