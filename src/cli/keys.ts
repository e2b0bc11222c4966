import { Command } from "commander";
import { recordAudit } from "../access/index.ts";
import { keyStatus, rotateSealedValues } from "../destinations/index.ts";
import { DEFAULT_SANDBOX } from "../store/index.ts";
import { type GlobalOptions, newCommand, printJson, withHerald } from "./context.ts";

const status = newCommand("status", "The key that seals credentials, and how many values each key sealed")
  .option("--json", "print JSON")
  .action((options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      const shown = await keyStatus(herald);
      if (options.json) return printJson(shown);
      process.stdout.write(`provider ${shown.provider}\nkey      ${shown.keyId}\n`);
      if (!shown.sealedValues.length) process.stdout.write("no sealed values\n");
      for (const { keyId, values, current } of shown.sealedValues) {
        process.stdout.write(
          `${String(values).padStart(8)}  sealed with ${keyId}${current ? " (current)" : ""}\n`,
        );
      }
    }),
  );

const rotate = newCommand(
  "rotate",
  "Seal every sealed value (accounts' credentials) with the configured key; each is opened with the key that sealed it, which must still be held",
)
  .option("--json", "print JSON")
  .action((options: GlobalOptions) =>
    withHerald(options, async (herald) => {
      const report = await rotateSealedValues(herald);
      // Rotation touches every sandbox's credentials: one entry, filed under the default sandbox.
      await recordAudit(herald.store, {
        sandbox: DEFAULT_SANDBOX,
        actor: "cli",
        action: "keys.rotate",
        resource: "keys",
        details: {
          keyId: herald.keys.keyId,
          resealed: report.resealed,
          current: report.current,
          failed: report.failed.length,
        },
      });
      if (options.json) printJson(report);
      else {
        process.stdout.write(
          `${report.resealed} value${report.resealed === 1 ? "" : "s"} sealed anew with ${herald.keys.keyId}, ${report.current} already sealed with it\n`,
        );
        for (const f of report.failed) {
          process.stderr.write(`not rotated: account ${f.accountId} (sandbox ${f.sandbox}): ${f.error}\n`);
        }
      }
      if (report.failed.length) process.exitCode = 1;
    }),
  );

export const keysCommand = new Command("keys")
  .description("The key sealing credentials at rest (HERALD_KEY_PROVIDER, HERALD_KEY_ID): status, rotate")
  .addCommand(status)
  .addCommand(rotate);
