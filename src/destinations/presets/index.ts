import { httpDestination } from "../http/index.ts";
import { sftpDestination } from "../sftp/index.ts";
import type { DestinationDefinition } from "../types.ts";

/**
 * Catalog entries for email marketing and advertising. They deliver through the connectors above
 * (their connection and details fields are the connector's own); what they add is the category and
 * the presets every dataflow of theirs is held to when saved (applyPresets): the identity every
 * exported profile must have, and whether identities are sent SHA-256-hashed after trimming and
 * lower-casing.
 */
export const emailMarketingSftpDestination: DestinationDefinition = {
  ...sftpDestination,
  id: "email-marketing-sftp",
  name: "Email marketing (SFTP import)",
  description:
    "Profile files keyed on email, for email-marketing platforms that import contacts from an SFTP folder",
  category: "email_marketing",
  exportType: "profile",
  presets: { requiredIdentity: "email" },
};

export const advertisingAudienceDestination: DestinationDefinition = {
  ...httpDestination,
  id: "advertising-audience",
  name: "Advertising audience (hashed email)",
  description:
    "Audience changes for an ad platform's audience API: each profile's email SHA-256-hashed after trimming and lower-casing, sent as JSON over HTTP",
  category: "advertising",
  exportType: "segment",
  presets: { identityHashing: "sha256", requiredIdentity: "email" },
};

export const presetDestinations: DestinationDefinition[] = [
  emailMarketingSftpDestination,
  advertisingAudienceDestination,
];
