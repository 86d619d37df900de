import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { type CliIo, infoCommand, initCommand, validateCommand } from '../../../src/cli/config-commands.js';
import { parseConfig } from '../../../src/config/load-config.js';

function captureIo(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (text) => stdout.push(text), err: (text) => stderr.push(text) };
}

describe('config commands', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wolfscale-cli-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('init writes a private file that validates and keeps the given answers', async () => {
    const output = join(dir, 'wolfscale.toml');
    const io = captureIo();
    const code = await initCommand(
      {
        output,
        force: false,
        interactive: false,
        nodeId: 'node-2',
        advertiseAddress: '10.0.0.2:7654',
        peers: ['node-1@10.0.0.1:7654', '10.0.0.3:7654'],
        databasePassword: 'p"w\\with quotes',
      },
      io,
    );
    expect(code).toBe(0);
    expect(io.stdout.join('\n')).toContain(`Configuration file created: ${output}`);
    expect((await stat(output)).mode & 0o777).toBe(0o600);
    const parsed = parseConfig(await readFile(output, 'utf8'));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    expect(parsed.warnings).toEqual([]);
    expect(parsed.config.node).toMatchObject({ id: 'node-2', advertise_address: '10.0.0.2:7654' });
    expect(parsed.config.database.password).toBe('p"w\\with quotes');
    expect(parsed.config.cluster.peers).toEqual(['node-1@10.0.0.1:7654', '10.0.0.3:7654']);
    expect(parsed.config.cluster.secret).toMatch(/^[0-9a-f]{48}$/);
    expect(parsed.config.api.token).toMatch(/^[0-9a-f]{48}$/);
  });

  test('init refuses to overwrite without --force', async () => {
    const output = join(dir, 'existing.toml');
    await writeFile(output, 'keep me');
    const io = captureIo();
    expect(await initCommand({ output, force: false, interactive: false }, io)).toBe(1);
    expect(io.stderr.join()).toContain('already exists: pass --force');
    expect(await readFile(output, 'utf8')).toBe('keep me');
  });

  test('validate prints the summary of a valid file and exits 0', async () => {
    const path = join(dir, 'ok.toml');
    await writeFile(path, '[node]\nid = "n1"\n[database]\nuser = "u"\npassword = "p"\n');
    const io = captureIo();
    expect(await validateCommand(path, io)).toBe(0);
    expect(io.stdout.join('\n')).toContain('✓ Configuration is valid');
    expect(io.stdout.join('\n')).toContain('Quorum Size:   1');
  });

  test('validate lists every problem with file and line and exits 1', async () => {
    const path = join(dir, 'bad.toml');
    await writeFile(path, '[node]\nid = "n1"\nbind_adress = "x"\n[database]\nuser = "u"\npassword = 3\n');
    const io = captureIo();
    expect(await validateCommand(path, io)).toBe(1);
    const text = io.stderr.join('\n');
    expect(text).toContain(`${path}:3: unknown key "node.bind_adress"; did you mean "bind_address"?`);
    expect(text).toContain(`${path}:6: database.password: Invalid input: expected string, received number`);
  });

  test('info warns about unknown keys but still prints the resolved settings', async () => {
    const path = join(dir, 'old.toml');
    await writeFile(
      path,
      '[node]\nid = "n1"\n[database]\nuser = "u"\npassword = "p"\n[wal]\nfsync = false\nfoo = 1\n',
    );
    const io = captureIo();
    expect(await infoCommand(path, io)).toBe(0);
    expect(io.stderr.join('\n')).toContain(':8: warning: unknown key "wal.foo"');
    expect(io.stdout.join('\n')).toContain('Fsync:              off (UNSAFE');
  });
});
