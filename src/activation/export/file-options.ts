import { z } from "zod";

/** Tab may be spelled `\t` or `tab`, as a shell or a form passes it. */
const TAB_SPELLINGS = new Set(["\\t", "tab"]);

/** How a dataflow's files are written. One schema: API validation, OpenAPI, CLI and UI forms. */
export const csvOptionsSchema = z
  .object({
    delimiter: z
      .preprocess(
        (value) => (typeof value === "string" && TAB_SPELLINGS.has(value) ? "\t" : value),
        z.string().length(1, "must be exactly one character (tab may be written \\t)"),
      )
      .refine(
        (c) => c === "\t" || (c >= " " && c !== '"'),
        "must be a printable character or tab, not a quote",
      )
      .default(","),
    quote: z
      .enum(['"', ""])
      .default('"')
      .describe(
        'quote character: " (values holding the delimiter, a quote or a line break are quoted), or empty for none: values are written as they are, so choose a delimiter the data never holds',
      ),
    escape: z
      .enum(['"', "\\", "'"])
      .default('"')
      .describe("escape character inside quotes: \" (doubling), \\ or '"),
    header: z.boolean().default(true),
    nullText: z
      .string()
      .max(16)
      .regex(/^[^\r\n]*$/, "cannot contain a line break")
      .default("")
      .describe('text written for null: "", "null", ...'),
  })
  // A delimiter that is also the escape character could not be told from an escaped one.
  .refine((csv) => !csv.quote || csv.delimiter !== csv.escape, {
    path: ["delimiter"],
    message: "must differ from the escape character",
  });

export const fileOptionsSchema = z.object({
  format: z.enum(["csv", "jsonl", "parquet"]).default("csv"),
  csv: csvOptionsSchema.default({ delimiter: ",", quote: '"', escape: '"', header: true, nullText: "" }),
  compression: z.enum(["gzip", "none"]).default("gzip"),
  /** gzip level: 1 is fastest (the default; about 12% larger files than 6 for 4.5x less CPU). */
  compressionLevel: z.number().int().min(1).max(9).default(1),
  maxRowsPerFile: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe("split into numbered files of at most this many rows"),
  maxFiles: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(5)
    .describe("at most this many files per segment per run"),
  manifest: z.boolean().default(false),
});

export type FileOptions = z.infer<typeof fileOptionsSchema>;
export type FileOptionsInput = z.input<typeof fileOptionsSchema>;

export function fileExtension(options: FileOptions, encrypted = false): string {
  const base = options.format === "csv" ? "csv" : options.format === "jsonl" ? "jsonl" : "parquet";
  const compressed = options.compression === "gzip" && options.format !== "parquet" ? `${base}.gz` : base;
  // Files encrypted to the account's OpenPGP key end as GnuPG's own output does.
  return encrypted ? `${compressed}.gpg` : compressed;
}
