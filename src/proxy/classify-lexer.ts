/**
 * A one-pass SQL tokenizer that knows just enough MariaDB syntax to classify statements. Pure.
 *
 * - Comments are skipped: `-- ` (dash dash then white space or end), `#` to end of line, and
 *   `/* … *\/`, including optimizer hints `/*+ … *\/`.
 * - Executable comments `/*! … *\/`, `/*!50100 … *\/` and `/*M! … *\/` are lexed as code:
 *   MariaDB runs them, so a write hidden in one is a write.
 * - String literals ('…', "…") and backquoted identifiers are single opaque tokens (doubled quotes
 *   and backslash escapes handled), so `;`, `--` or `FOR UPDATE` inside them mean nothing.
 * - Bare words are upper-cased.
 */
export type Token =
  /** `text` upper-cased for matching; `raw` as written (database names are case-sensitive). */
  | { readonly kind: 'word'; readonly text: string; readonly raw: string }
  | { readonly kind: 'quoted'; readonly text: string }
  | { readonly kind: 'string' }
  | { readonly kind: 'number'; readonly text: string }
  | { readonly kind: 'variable'; readonly text: string }
  | { readonly kind: 'punct'; readonly text: string };

/** Longest statement text the classifier reads; past it, it stops and answers "unknown". */
export const classifiedBytesMax = 1024 * 1024;

function isWordChar(code: number): boolean {
  return (
    (code >= 48 && code <= 57) ||
    (code >= 65 && code <= 90) ||
    (code >= 97 && code <= 122) ||
    code === 95 ||
    code === 36 ||
    code > 127
  );
}

function isSpace(char: string | undefined): boolean {
  return char === ' ' || char === '\t' || char === '\n' || char === '\r' || char === '\f' || char === '\v';
}

/** Index just past a quoted run starting at `start` (the opening quote), or text.length if unterminated. */
function skipQuoted(text: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < text.length) {
    const char = text[i];
    if (char === '\\' && quote !== '`') {
      i += 2;
      continue;
    }
    if (char === quote) {
      if (text[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return text.length;
}

/**
 * Splits `sql` into statements (top-level `;`), each a list of tokens. Empty statements are
 * dropped. `truncated` is true when the text was longer than `classifiedBytesMax`.
 */
export function tokenize(sql: string): { readonly statements: Token[][]; readonly truncated: boolean } {
  const truncated = sql.length > classifiedBytesMax;
  const text = truncated ? sql.slice(0, classifiedBytesMax) : sql;
  const statements: Token[][] = [];
  let current: Token[] = [];
  let executableDepth = 0;
  let i = 0;
  while (i < text.length) {
    const char = text[i] as string;
    const next = text[i + 1];
    if (isSpace(char)) {
      i++;
      continue;
    }
    if (char === '#' || (char === '-' && next === '-' && (isSpace(text[i + 2]) || i + 2 >= text.length))) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end + 1;
      continue;
    }
    if (char === '/' && next === '*') {
      const executable = text[i + 2] === '!' || (text[i + 2] === 'M' && text[i + 3] === '!');
      if (executable) {
        // Enter the comment's body as code; skip the optional version number.
        i += text[i + 2] === '!' ? 3 : 4;
        while (i < text.length && (text[i] as string) >= '0' && (text[i] as string) <= '9') i++;
        executableDepth++;
        continue;
      }
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
      continue;
    }
    if (char === '*' && next === '/' && executableDepth > 0) {
      executableDepth--;
      i += 2;
      continue;
    }
    if (char === "'" || char === '"') {
      current.push({ kind: 'string' });
      i = skipQuoted(text, i, char);
      continue;
    }
    if (char === '`') {
      const end = skipQuoted(text, i, '`');
      current.push({ kind: 'quoted', text: text.slice(i + 1, end - 1).replace(/``/g, '`') });
      i = end;
      continue;
    }
    if (char === ';') {
      if (current.length > 0) statements.push(current);
      current = [];
      i++;
      continue;
    }
    if (char === '@') {
      let end = i + 1;
      if (text[end] === '@') end++;
      if (text[end] === "'" || text[end] === '"' || text[end] === '`') {
        end = skipQuoted(text, end, text[end] as string);
      } else {
        while (end < text.length && (isWordChar(text.charCodeAt(end)) || text[end] === '.')) end++;
      }
      current.push({ kind: 'variable', text: text.slice(i, end).toUpperCase() });
      i = end;
      continue;
    }
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) {
      let end = i + 1;
      while (end < text.length && (isWordChar(text.charCodeAt(end)) || text[end] === '.')) end++;
      current.push({ kind: 'number', text: text.slice(i, end) });
      i = end;
      continue;
    }
    if (isWordChar(code)) {
      let end = i + 1;
      while (end < text.length && isWordChar(text.charCodeAt(end))) end++;
      const raw = text.slice(i, end);
      current.push({ kind: 'word', text: raw.toUpperCase(), raw });
      i = end;
      continue;
    }
    if (char === ':' && next === '=') {
      current.push({ kind: 'punct', text: ':=' });
      i += 2;
      continue;
    }
    current.push({ kind: 'punct', text: char });
    i++;
  }
  if (current.length > 0) statements.push(current);
  return { statements, truncated };
}
