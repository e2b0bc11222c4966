/**
 * `matches` runs in three engines: JavaScript (the streaming evaluator), RE2 (DuckDB) and
 * PostgreSQL. RE2 has no lookaround and no backreferences, and up to 50 segments share one batch
 * query, so a pattern only JavaScript accepts would fail all of them: such patterns are refused on
 * save. Named groups too (the RE2 that DuckDB bundles spells them `(?P<name>...)`).
 */

/** One token of a pattern: an escape, a whole character class (where `(` is a plain character) or a group opener. */
const TOKEN = /\\k<|\\[1-9]|\\[\s\S]|\[(?:\\[\s\S]|[^\]\\])*\]|\(\?<?[=!]|\(\?<(?=[A-Za-z_$])|[\s\S]/g;

const UNSHARED: Record<string, string> = {
  "(?=": "lookahead (?=...)",
  "(?!": "negative lookahead (?!...)",
  "(?<=": "lookbehind (?<=...)",
  "(?<!": "negative lookbehind (?<!...)",
  "(?<": "named group (?<name>...)",
  "\\k<": "named backreference \\k<name>",
};

/** The first construct of `pattern` outside the subset JavaScript, RE2 and PostgreSQL share, with its position. */
export function unsharedRegexConstruct(pattern: string): string | undefined {
  for (const token of pattern.matchAll(TOKEN)) {
    const construct = /^\\[1-9]$/.test(token[0]) ? `backreference ${token[0]}` : UNSHARED[token[0]];
    if (construct) return `${construct} at character ${token.index + 1} of the pattern`;
  }
  return undefined;
}
