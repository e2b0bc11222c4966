import { Command } from "commander";
import { openHerald } from "../api/index.ts";
import { lookupProfile, parseIdentity } from "../profiles/index.ts";
import { loadSchema } from "../schema/index.ts";
import { configFrom, type GlobalOptions, newCommand, printJson } from "./context.ts";

const get = newCommand("get", "Show a profile by any identity, with its most recent events")
  .argument("<identity>", "namespace:value, e.g. email:ann@example.com")
  .option("--events <n>", "how many recent events", "20")
  .action(async (identity: string, options: GlobalOptions & { events: string }) => {
    const herald = await openHerald(configFrom(options));
    try {
      const schema = await loadSchema(herald.store, options.sandbox);
      printJson(
        await lookupProfile(herald.store, schema, parseIdentity(identity, schema), Number(options.events)),
      );
    } finally {
      await herald.close();
    }
  });

export const profilesCommand = new Command("profiles").description("Look up profiles").addCommand(get);
