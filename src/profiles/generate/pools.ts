/** One country's share of the generated people, with name and city pools from faker's locale data. */
export interface CountryPool {
  code: string;
  weight: number;
  phonePrefix: string;
  currency: string;
  domains: readonly string[];
  femaleNames: readonly string[];
  maleNames: readonly string[];
  lastNames: readonly string[];
  cities: readonly string[];
}

interface LocaleDefinitions {
  person?: { first_name?: Record<string, string[]>; last_name?: Record<string, string[]> };
  location?: { city_name?: string[] };
}

function definitions(faker: { definitions: unknown }): LocaleDefinitions {
  return faker.definitions as LocaleDefinitions;
}

function names(faker: { definitions: unknown }) {
  const person = definitions(faker).person ?? {};
  const first = person.first_name ?? {};
  return {
    femaleNames: first.female ?? first.generic ?? [],
    maleNames: first.male ?? first.generic ?? [],
    lastNames: person.last_name?.generic ?? [],
  };
}

// Faker's en_GB inherits en's (American) city names; British ones read better in a UK demo.
const ukCities = [
  "London",
  "Birmingham",
  "Manchester",
  "Leeds",
  "Glasgow",
  "Liverpool",
  "Bristol",
  "Sheffield",
  "Edinburgh",
  "Cardiff",
  "Leicester",
  "Nottingham",
  "Newcastle upon Tyne",
  "Brighton",
  "Oxford",
  "Cambridge",
  "York",
  "Belfast",
  "Aberdeen",
  "Southampton",
  "Plymouth",
  "Norwich",
  "Bath",
  "Exeter",
];

/**
 * Built once per data set, in a fixed order: the generator picks from these with its seeded
 * generator. Faker is loaded here, on first use, because loading it takes a second or two.
 */
export async function countryPools(): Promise<CountryPool[]> {
  const { fakerDE, fakerEN_US, fakerES, fakerFR, fakerIT } = await import("@faker-js/faker");
  const en = names(fakerEN_US);
  return [
    {
      code: "US",
      weight: 40,
      phonePrefix: "+1",
      currency: "USD",
      domains: ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com"],
      ...en,
      cities: definitions(fakerEN_US).location?.city_name ?? [],
    },
    {
      code: "GB",
      weight: 15,
      phonePrefix: "+44",
      currency: "GBP",
      domains: ["gmail.com", "hotmail.co.uk", "btinternet.com", "outlook.com"],
      ...en,
      cities: ukCities,
    },
    {
      code: "FR",
      weight: 15,
      phonePrefix: "+33",
      currency: "EUR",
      domains: ["gmail.com", "orange.fr", "free.fr", "laposte.net"],
      ...names(fakerFR),
      cities: definitions(fakerFR).location?.city_name ?? [],
    },
    {
      code: "DE",
      weight: 15,
      phonePrefix: "+49",
      currency: "EUR",
      domains: ["gmail.com", "web.de", "gmx.de", "t-online.de"],
      ...names(fakerDE),
      cities: definitions(fakerDE).location?.city_name ?? [],
    },
    {
      code: "ES",
      weight: 8,
      phonePrefix: "+34",
      currency: "EUR",
      domains: ["gmail.com", "hotmail.es", "yahoo.es"],
      ...names(fakerES),
      cities: definitions(fakerES).location?.city_name ?? [],
    },
    {
      code: "IT",
      weight: 7,
      phonePrefix: "+39",
      currency: "EUR",
      domains: ["gmail.com", "libero.it", "virgilio.it"],
      ...names(fakerIT),
      cities: definitions(fakerIT).location?.city_name ?? [],
    },
  ];
}

/** Lower-case ASCII letters only (`Céleste` → `celeste`), for e-mail local parts. */
export function emailSlug(name: string): string {
  return name
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z]/g, "");
}

export const interestPool = [
  "running",
  "cycling",
  "yoga",
  "travel",
  "cooking",
  "photography",
  "gaming",
  "fashion",
  "music",
  "jazz",
  "hiking",
  "reading",
  "gardening",
  "football",
  "tennis",
  "wine",
  "tech",
  "home decor",
];

export const pages = [
  { page: "home", path: "/" },
  { page: "pricing", path: "/pricing" },
  { page: "blog", path: "/blog" },
  { page: "docs", path: "/docs" },
  { page: "product", path: "/products" },
  { page: "cart", path: "/cart" },
  { page: "checkout", path: "/checkout" },
  { page: "account", path: "/account" },
];

export const products = Array.from({ length: 200 }, (_, i) => ({
  sku: `SKU-${String(10_000 + i * 37).padStart(6, "0")}`,
  // Prices from 4.99 to about 480, a few expensive items.
  cents: 499 + ((i * 7919) % 47_500),
}));
