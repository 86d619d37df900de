import { fc, test } from '@fast-check/vitest';
import { expect } from 'vitest';
import { LogIds } from '../../../src/consensus/index.js';

// LogIds keeps terms as runs; a plain array of terms is the obviously-correct model. Any sequence
// of appends (terms never decreasing), truncations and purges must give the same answers.
const operation = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), termStep: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ kind: fc.constant('truncate' as const), back: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('purge' as const), keep: fc.integer({ min: 0, max: 5 }) }),
);

test.prop([fc.array(operation, { maxLength: 80 })])('LogIds agrees with an array of terms', (operations) => {
  const log = new LogIds({ purged: { term: 0, index: 0 }, termStarts: [], lastIndex: 0 });
  const terms: (number | undefined)[] = [0]; // terms[i] = term at index i; undefined = purged
  let purgedIndex = 0;
  let last = 0;
  for (const op of operations) {
    if (op.kind === 'append') {
      const term = (terms[last] ?? log.termAt(last) ?? 0) + op.termStep;
      const effective = Math.max(term, 1);
      log.append({ term: effective, index: last + 1 });
      last++;
      terms[last] = effective;
    } else if (op.kind === 'truncate') {
      const from = Math.max(purgedIndex + 1, last + 1 - op.back);
      log.truncateFrom(from);
      last = Math.min(last, from - 1);
      terms.length = last + 1;
    } else {
      const upTo = Math.max(purgedIndex, last - op.keep);
      log.purgeTo(upTo);
      for (let i = purgedIndex; i < upTo; i++) terms[i] = undefined;
      purgedIndex = upTo;
    }
    expect(log.lastIndex).toBe(last);
    expect(log.firstIndex).toBe(purgedIndex + 1);
    for (let i = 0; i <= last + 1; i++) {
      const expected = i < purgedIndex || i > last ? undefined : terms[i];
      expect(log.termAt(i)).toBe(expected);
    }
    for (let i = purgedIndex + 1; i <= last; i++) {
      const t = terms[i]!;
      let end = i;
      while (end + 1 <= last && terms[end + 1] === t) end++;
      expect(log.lastIndexOfTerm(t)).toBe(end);
    }
  }
});
