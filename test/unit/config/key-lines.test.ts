import { describe, expect, test } from 'vitest';
import { keyLines } from '../../../src/config/key-lines.js';

describe('keyLines', () => {
  test('finds tables, keys, dotted and quoted keys, and skips multi-line values', () => {
    const text = [
      '# comment',
      'top = 1',
      '[node]',
      'id = "n1"',
      '  "quoted key" = 2',
      'a.b = 3',
      'list = [',
      '  "x = 1",',
      ']',
      'text = """',
      'fake = 1',
      '"""',
      '[cluster.sub]',
      'k = 1 # trailing',
    ].join('\n');
    expect(Object.fromEntries(keyLines(text))).toEqual({
      top: 2,
      node: 3,
      'node.id': 4,
      'node.quoted key': 5,
      'node.a.b': 6,
      'node.list': 7,
      'node.text': 10,
      'cluster.sub': 13,
      'cluster.sub.k': 14,
    });
  });
});
