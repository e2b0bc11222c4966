export { defaultSchema } from "./default-schema.ts";
export {
  addField,
  installDefaultSchema,
  listFields,
  loadSchema,
  recentSchema,
  setFieldLabels,
} from "./registry.ts";
export {
  FIELD_TYPES,
  type Field,
  type FieldDefinitionInput,
  type FieldEntity,
  type FieldType,
  fieldDefinitionSchema,
  fieldPathSchema,
  identityNamespaceSchema,
  type SchemaSnapshot,
} from "./types.ts";
