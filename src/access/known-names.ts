import { validationError } from "../errors/index.ts";

/**
 * Refuses names that are not among the known ones, each named by its place in the list
 * (`roles.1: role 'Nope' does not exist`).
 */
export function requireKnownNames(
  input: { what: string; field: string; kind: string },
  names: readonly string[],
  isKnown: (name: string) => boolean,
): void {
  const issues = names
    .map((name, i) => ({ name, field: `${input.field}.${i}` }))
    .filter(({ name }) => !isKnown(name))
    .map(({ name, field }) => ({ field, message: `${field}: ${input.kind} '${name}' does not exist` }));
  if (issues.length) {
    throw validationError(`Invalid ${input.what}: ${issues.map((i) => i.message).join("; ")}`, issues);
  }
}
