/**
 * Where each key of a TOML document stands: dotted key → 1-based line. TOML parsers return values
 * without positions, and an error message that names the line saves the operator a search.
 *
 * Handles what configuration files use: `[table]` and `[a.b]` headers, `key = value` and dotted
 * `a.b = value` keys, bare or quoted. A table header's own line is recorded under the table's key.
 * Multi-line strings and arrays are skipped over by tracking brackets and triple quotes well
 * enough for key lines; a key inside one is never reported.
 */
export function keyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let table: string[] = [];
  let inMultilineString: string | undefined;
  let bracketDepth = 0;
  const rows = text.split(/\r?\n/);
  for (const [offset, row] of rows.entries()) {
    const line = offset + 1;
    if (inMultilineString !== undefined) {
      if (row.includes(inMultilineString)) inMultilineString = undefined;
      continue;
    }
    if (bracketDepth > 0) {
      bracketDepth += bracketBalance(row);
      continue;
    }
    const trimmed = row.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const header = /^\[\s*([^[\]]+?)\s*\]/.exec(trimmed);
    if (header?.[1] !== undefined) {
      table = splitKey(header[1]);
      lines.set(table.join('.'), line);
      continue;
    }
    const assignment =
      /^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=(.*)$/.exec(
        trimmed,
      );
    if (assignment?.[1] === undefined) continue;
    lines.set([...table, ...splitKey(assignment[1])].join('.'), line);
    const value = assignment[2] ?? '';
    const triple = /("""|''')/.exec(value);
    if (triple?.[1] !== undefined && value.indexOf(triple[1], (triple.index ?? 0) + 3) < 0) {
      inMultilineString = triple[1];
    }
    bracketDepth = Math.max(0, bracketBalance(value));
  }
  return lines;
}

function splitKey(key: string): string[] {
  return key.split('.').map((part) => part.trim().replace(/^["']|["']$/g, ''));
}

/** Net count of [ minus ] outside strings and comments on one line. */
function bracketBalance(text: string): number {
  let depth = 0;
  let quote: string | undefined;
  for (const char of text) {
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
      continue;
    }
    if (char === '"' || char === "'") quote = char;
    else if (char === '#') break;
    else if (char === '[') depth++;
    else if (char === ']') depth--;
  }
  return depth;
}
