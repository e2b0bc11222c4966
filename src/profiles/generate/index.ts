import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { countryPools, emailSlug, interestPool, pages, products } from "./pools.ts";
import { cumulativeWeights, SeededRandom } from "./random.ts";

export interface GenerateOptions {
  profiles: number;
  /** Average events per profile; each profile gets between 0 and twice this many. */
  eventsPerProfile: number;
  seed: number;
  outDir: string;
}

export interface GeneratedDataset {
  profilesFile: string;
  eventsFile: string;
  profiles: number;
  events: number;
}

/** Header of `profiles.csv`: field paths of the default schema, as `ingestFile` reads them. */
export const profileColumns = [
  "personalEmail.address",
  "mobilePhone.number",
  "crmId",
  "ecid",
  "person.name.firstName",
  "person.name.lastName",
  "person.birthDate",
  "person.gender",
  "homeAddress.city",
  "homeAddress.countryCode",
  "loyalty.tier",
  "loyalty.points",
  "consents.marketing.email.val",
  "consents.marketing.sms.val",
  "interests",
  "signupDate",
] as const;

/** Header of `events.csv`: type, timestamp, the identity column, then typed properties. */
export const eventColumns = [
  "type",
  "timestamp",
  "identity.email",
  "priceTotal",
  "quantity",
  "currency",
  "productSku",
  "page",
  "url",
] as const;

/**
 * Every date in the data set is placed relative to this fixed instant, never to the clock, so the
 * same seed always writes the same bytes.
 */
export const DATASET_ANCHOR = Date.UTC(2026, 5, 30, 12, 0, 0);
const DAY_MS = 86_400_000;
const ROWS_PER_WRITE = 2_000;

const genders = ["female", "male", "non-binary", "not specified"];
const genderWeights = cumulativeWeights([48, 48, 2, 2]);
const tiers = ["bronze", "silver", "gold", "platinum"];
const tierWeights = cumulativeWeights([50, 30, 15, 5]);
const tierPoints = [2_000, 8_000, 25_000, 80_000];
const eventTypes = [
  "web.pageView",
  "commerce.productViews",
  "commerce.productListAdds",
  "commerce.purchases",
];
const eventWeights = cumulativeWeights([70, 15, 7, 8]);

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * Dates and times as text, from lookup tables: formatting a Date per value costs more than the
 * rest of a row. Days count back from the anchor's day.
 */
class TimeText {
  private readonly days = new Map<number, string>();
  private readonly clock: string[] = [];
  private readonly anchorDay = Math.floor(DATASET_ANCHOR / DAY_MS);

  /** `YYYY-MM-DD` of the day `daysBack` days before the anchor's. */
  date(daysBack: number): string {
    let text = this.days.get(daysBack);
    if (text === undefined) {
      text = new Date((this.anchorDay - daysBack) * DAY_MS).toISOString().slice(0, 10);
      this.days.set(daysBack, text);
    }
    return text;
  }

  /** `YYYY-MM-DDTHH:MM:SSZ` of the instant `secondsBack` seconds before the anchor. */
  instant(secondsBack: number): string {
    const at = DATASET_ANCHOR / 1000 - secondsBack;
    const day = Math.floor(at / 86_400);
    const second = at - day * 86_400;
    if (!this.clock.length) {
      for (let s = 0; s < 86_400; s++)
        this.clock.push(`T${pad2(Math.floor(s / 3600))}:${pad2(Math.floor(s / 60) % 60)}:${pad2(s % 60)}Z`);
    }
    return this.date(this.anchorDay - day) + (this.clock[second] as string);
  }
}

/** A CSV cell: quoted only when it holds a delimiter, a quote or a line break. */
function cell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Writes text with back-pressure: waits for the file to drain instead of buffering without bound. */
class FileWriter {
  private readonly stream: fs.WriteStream;
  private parts: string[] = [];

  constructor(file: string) {
    this.stream = fs.createWriteStream(file, { highWaterMark: 1 << 20 });
  }

  /** Adds a line; true when it is time to `flush`. */
  add(line: string): boolean {
    this.parts.push(line);
    return this.parts.length >= ROWS_PER_WRITE;
  }

  async flush() {
    if (!this.parts.length) return;
    const text = this.parts.join("");
    this.parts = [];
    if (!this.stream.write(text)) await once(this.stream, "drain");
  }

  async close() {
    await this.flush();
    this.stream.end();
    await once(this.stream, "finish");
  }
}

/**
 * Writes `profiles.csv` and `events.csv` into `outDir`: realistic people from six countries (names,
 * unique e-mails, phones and CRM ids, birth dates, cities, loyalty, consents, interests) and their
 * page views, product views, cart adds and purchases over the year before `DATASET_ANCHOR`. Profiles
 * and events draw from separate seeded streams, so the profiles file does not change with
 * `eventsPerProfile`. Values come from precomputed pools, which keeps it near a million rows a second.
 */
export async function generateDataset(options: GenerateOptions): Promise<GeneratedDataset> {
  const { profiles, eventsPerProfile, seed, outDir } = options;
  if (!Number.isSafeInteger(profiles) || profiles < 0) throw new Error("profiles must be a whole number ≥ 0");
  if (!Number.isFinite(eventsPerProfile) || eventsPerProfile < 0)
    throw new Error("eventsPerProfile must be a number ≥ 0");
  fs.mkdirSync(outDir, { recursive: true });
  const profilesFile = path.join(outDir, "profiles.csv");
  const eventsFile = path.join(outDir, "events.csv");
  const countries = (await countryPools()).map((c) => ({
    ...c,
    femaleCells: c.femaleNames.map(cell),
    maleCells: c.maleNames.map(cell),
    lastCells: c.lastNames.map(cell),
    cityCells: c.cities.map(cell),
    femaleSlugs: c.femaleNames.map(emailSlug),
    maleSlugs: c.maleNames.map(emailSlug),
    lastSlugs: c.lastNames.map(emailSlug),
  }));
  const countryWeights = cumulativeWeights(countries.map((c) => c.weight));
  const random = new SeededRandom(seed);
  const eventRandom = new SeededRandom(seed ^ 0x5bd1e995);
  const profileOut = new FileWriter(profilesFile);
  const eventOut = new FileWriter(eventsFile);
  profileOut.add(`${profileColumns.join(",")}\n`);
  eventOut.add(`${eventColumns.join(",")}\n`);
  const time = new TimeText();
  let events = 0;
  const maxEvents = Math.floor(eventsPerProfile * 2);
  const extraChance = eventsPerProfile * 2 - maxEvents;

  for (let i = 0; i < profiles; i++) {
    const country = random.weighted(countries, countryWeights);
    const gender = random.weighted(genders, genderWeights);
    const female = gender === "female" || (gender !== "male" && random.chance(0.5));
    const firstIndex = random.int(0, (female ? country.femaleNames : country.maleNames).length - 1);
    const first = (female ? country.femaleCells : country.maleCells)[firstIndex] as string;
    const firstSlug = (female ? country.femaleSlugs : country.maleSlugs)[firstIndex] as string;
    const lastIndex = random.int(0, country.lastNames.length - 1);
    const last = country.lastCells[lastIndex] as string;
    const lastSlug = country.lastSlugs[lastIndex] as string;
    // The profile number makes every address unique; names hold no digits, so none collide.
    const email = `${firstSlug || "user"}.${lastSlug || "customer"}${i + 1}@${random.pick(country.domains)}`;
    // A bijection of [0, 10^9) keeps phone numbers unique up to a billion profiles.
    const phone = random.chance(0.8)
      ? `${country.phonePrefix}6${String((i * 387_420_489 + 12_345_678) % 1_000_000_000).padStart(9, "0")}`
      : "";
    const crmId = random.chance(0.9) ? `CRM${String(i + 1).padStart(9, "0")}` : "";
    const ecid = random.chance(0.7)
      ? `${String(random.uint32()).padStart(10, "0")}${String(random.uint32()).padStart(10, "0")}${String(i).padStart(18, "0")}`
      : "";
    const birthDate = random.chance(0.9) ? time.date(random.int(18 * 365, 85 * 365)) : "";
    const tierIndex = tiers.indexOf(random.weighted(tiers, tierWeights));
    const hasLoyalty = random.chance(0.75);
    const points = random.int(0, tierPoints[tierIndex] as number);
    const interestCount = random.int(0, 3);
    const chosen: string[] = [];
    for (let k = 0; k < interestCount; k++) {
      const interest = random.pick(interestPool);
      if (!chosen.includes(interest)) chosen.push(interest);
    }
    const signup = random.int(30, 8 * 365 * 24 * 60) * 60;
    const row = [
      email,
      phone,
      crmId,
      ecid,
      first,
      last,
      birthDate,
      gender,
      random.pick(country.cityCells),
      country.code,
      hasLoyalty ? (tiers[tierIndex] as string) : "",
      hasLoyalty ? String(points) : "",
      random.chance(0.7) ? "y" : "n",
      random.chance(0.4) ? "y" : "n",
      chosen.length ? `"[""${chosen.join('"",""')}""]"` : "",
      time.instant(signup),
    ];
    if (profileOut.add(`${row.join(",")}\n`)) await profileOut.flush();

    const count =
      maxEvents > 0 || extraChance > 0
        ? eventRandom.int(0, maxEvents) + (eventRandom.chance(extraChance) ? 1 : 0)
        : 0;
    for (let e = 0; e < count; e++) {
      const type = eventRandom.weighted(eventTypes, eventWeights);
      const at = time.instant(eventRandom.int(0, 365 * 24 * 3600));
      let properties: string;
      if (type === "web.pageView") {
        const page = eventRandom.pick(pages);
        properties = `,,,,${page.page},https://shop.example.com${page.path}`;
      } else {
        const product = eventRandom.pick(products);
        if (type === "commerce.purchases") {
          const quantity = eventRandom.int(1, 4);
          properties = `${((product.cents * quantity) / 100).toFixed(2)},${quantity},${country.currency},${product.sku},,`;
        } else if (type === "commerce.productListAdds") {
          properties = `,${eventRandom.int(1, 3)},,${product.sku},,`;
        } else {
          properties = `,,,${product.sku},product,https://shop.example.com/products/${product.sku}`;
        }
      }
      if (eventOut.add(`${type},${at},${email},${properties}\n`)) await eventOut.flush();
      events++;
    }
  }
  await Promise.all([profileOut.close(), eventOut.close()]);
  return { profilesFile, eventsFile, profiles, events };
}
