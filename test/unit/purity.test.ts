import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';

/**
 * The pure core (consensus engine, codecs, classifier, router) takes values and returns values.
 * Time, randomness and I/O belong to src/node/. This guard fails when they creep in.
 */
const root = join(import.meta.dirname, '..', '..');

const pureRoots = ['src/consensus', 'src/protocol'];
const purePatterns = [
  /^src\/wal\/frame[^/]*\.ts$/,
  /^src\/proxy\/classify[^/]*\.ts$/,
  /^src\/proxy\/route[^/]*\.ts$/,
  /^src\/proxy\/response-scanner\.ts$/,
  /^src\/proxy\/backend-login\.ts$/,
];

const forbiddenImports = [
  'node:net',
  'node:fs',
  'node:fs/promises',
  'node:timers',
  'node:timers/promises',
  'node:child_process',
  'node:dgram',
  'node:http',
  'node:tls',
];
const forbiddenCalls = [
  'Date.now',
  'Math.random',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'performance.now',
  'new Date()',
];

function listTs(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listTs(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Source with comments removed, so a comment that mentions Date.now does not trip the guard. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

function impurities(relativePath: string, text: string): string[] {
  const source = code(text);
  const found: string[] = [];
  for (const module of forbiddenImports) {
    const bare = module.replace(/^node:/, '');
    const importRe = new RegExp(`(from|import\\(|require\\()\\s*['"](node:)?${bare.replace('/', '\\/')}['"]`);
    if (importRe.test(source)) found.push(`${relativePath} imports ${module}`);
  }
  for (const call of forbiddenCalls) {
    const escaped = call.replace(/[.()]/g, (c) => `\\${c}`);
    if (new RegExp(`(^|[^\\w.])${escaped}`).test(source)) found.push(`${relativePath} uses ${call}`);
  }
  return found;
}

describe('pure folders stay pure', () => {
  const allSources = listTs(join(root, 'src')).map((path) => relative(root, path).split('\\').join('/'));
  const pureFiles = allSources.filter(
    (path) => pureRoots.some((dir) => path.startsWith(`${dir}/`)) || purePatterns.some((re) => re.test(path)),
  );

  test('no I/O module, clock, timer or randomness in pure code', () => {
    const found = pureFiles.flatMap((path) => impurities(path, readFileSync(join(root, path), 'utf8')));
    expect(found).toEqual([]);
  });

  test('no console.log outside src/cli and src/bin', () => {
    const found = allSources
      .filter((path) => !path.startsWith('src/cli/') && !path.startsWith('src/bin/'))
      .filter((path) => /console\.log\s*\(/.test(code(readFileSync(join(root, path), 'utf8'))));
    expect(found).toEqual([]);
  });

  test('the guard itself catches what it is meant to catch', () => {
    expect(impurities('x.ts', "import { connect } from 'node:net';")).toEqual(['x.ts imports node:net']);
    expect(impurities('x.ts', "import * as fs from 'fs';")).toEqual(['x.ts imports node:fs']);
    expect(impurities('x.ts', 'const t = Date.now();')).toEqual(['x.ts uses Date.now']);
    expect(impurities('x.ts', 'setTimeout(f, 1)')).toEqual(['x.ts uses setTimeout']);
    expect(impurities('x.ts', 'const r = Math.random();')).toEqual(['x.ts uses Math.random']);
    expect(impurities('x.ts', '// Date.now is not called here\nconst x = 1;')).toEqual([]);
    expect(impurities('x.ts', 'clock.setTimeoutMs = 5;')).toEqual([]);
  });
});
