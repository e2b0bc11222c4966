import type { FieldDefinitionInput } from "./types.ts";

/**
 * The customer-profile schema every new sandbox starts with: the XDM paths users of CDPs know,
 * plus typed properties of the common event types (`commerce.purchases`, `web.pageView`).
 */
export const defaultSchema: FieldDefinitionInput[] = [
  { path: "personalEmail.address", type: "string", namespace: "email", primary: true, labels: ["I1"] },
  { path: "mobilePhone.number", type: "string", namespace: "phone", labels: ["I1"] },
  { path: "crmId", type: "string", namespace: "crmId", labels: ["I2"] },
  { path: "ecid", type: "string", namespace: "ecid", labels: ["I2"] },
  { path: "person.name.firstName", type: "string", labels: ["I1"] },
  { path: "person.name.lastName", type: "string", labels: ["I1"] },
  { path: "person.birthDate", type: "date", labels: ["I2"] },
  { path: "person.gender", type: "string" },
  { path: "homeAddress.city", type: "string", labels: ["S2"] },
  { path: "homeAddress.countryCode", type: "string", labels: ["S2"] },
  { path: "loyalty.tier", type: "string" },
  { path: "loyalty.points", type: "integer" },
  { path: "consents.marketing.email.val", type: "string", description: "y (given) or n (denied)" },
  { path: "consents.marketing.sms.val", type: "string", description: "y (given) or n (denied)" },
  { path: "interests", type: "string[]" },
  { path: "signupDate", type: "timestamp" },
  { entity: "event", path: "priceTotal", type: "number", description: "commerce.purchases: order total" },
  { entity: "event", path: "quantity", type: "integer", description: "commerce.purchases: items" },
  { entity: "event", path: "currency", type: "string", description: "commerce.purchases: ISO 4217 code" },
  { entity: "event", path: "productSku", type: "string", description: "commerce.purchases: product" },
  { entity: "event", path: "page", type: "string", description: "web.pageView: page name" },
  { entity: "event", path: "url", type: "string", description: "web.pageView: address" },
];
