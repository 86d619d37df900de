import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { parseConfig } from '../../../src/config/load-config.js';
import {
  DataDirLock,
  DataDirLockedError,
  type LockHolder,
  lockFileName,
  parseHolder,
} from '../../../src/node/data-dir-lock.js';
import { NodeStartError, WolfScaleNode } from '../../../src/node/wolfscale-node.js';

describe('one node process per data directory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wolfscale-lock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const bootId = async () =>
    (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  const holder = async (pid: number, extra: Partial<LockHolder> = {}): Promise<LockHolder> => ({
    pid,
    node_id: 'node-9',
    hostname: hostname(),
    boot_id: await bootId(),
    started_at: '2026-12-04T00:00:00.000Z',
    ...extra,
  });
  const exists = async (path: string) =>
    await stat(path).then(
      () => true,
      () => false,
    );

  test('taken, refused while held (naming the holder), released, taken again', async () => {
    const lock = await DataDirLock.acquire(dir, 'node-1');
    const content = parseHolder(await readFile(join(dir, lockFileName), 'utf8'));
    expect(content).toMatchObject({ pid: process.pid, node_id: 'node-1', hostname: hostname() });
    const refused = DataDirLock.acquire(dir, 'node-1');
    await expect(refused).rejects.toThrow(DataDirLockedError);
    await expect(refused).rejects.toThrow(`pid ${process.pid}, node node-1`);
    await lock.release();
    expect(await exists(join(dir, lockFileName))).toBe(false);
    const again = await DataDirLock.acquire(dir, 'node-1');
    await again.release();
    await again.release();
  });

  test('a lock whose process is gone is taken over, and the takeover is reported', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((resolve) => child.once('exit', resolve));
    await writeFile(join(dir, lockFileName), JSON.stringify(await holder(pid)));
    const stale: Array<LockHolder | undefined> = [];
    const lock = await DataDirLock.acquire(dir, 'node-1', (h) => stale.push(h));
    expect(stale).toEqual([await holder(pid)]);
    expect(parseHolder(await readFile(lock.path, 'utf8'))?.pid).toBe(process.pid);
    await lock.release();
  });

  test('a pid from an earlier boot, or a file that says nothing, is stale', async () => {
    const bootless = (await bootId()) === '';
    if (!bootless) {
      await writeFile(
        join(dir, lockFileName),
        JSON.stringify(await holder(process.pid, { boot_id: 'earlier' })),
      );
      await (await DataDirLock.acquire(dir, 'node-1')).release();
    }
    await writeFile(join(dir, lockFileName), 'not json');
    await (await DataDirLock.acquire(dir, 'node-1')).release();
  });

  test('a live process of another owner holds it (pid 1 cannot be signalled by everyone, but exists)', async () => {
    await writeFile(join(dir, lockFileName), JSON.stringify(await holder(1)));
    await expect(DataDirLock.acquire(dir, 'node-1')).rejects.toThrow('pid 1, node node-9');
  });

  test('a node whose data directory is held does not start, and says why', async () => {
    const parsed = parseConfig(`
[node]
id = "node-1"
bind_address = "127.0.0.1:1"
data_dir = "${dir}"
[database]
host = "127.0.0.1"
port = 1
user = "root"
password = ""
`);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const held = await DataDirLock.acquire(dir, 'node-1');
    try {
      const start = WolfScaleNode.start({ config: parsed.config, logger: pino({ level: 'silent' }) });
      await expect(start).rejects.toThrow(NodeStartError);
      await expect(start).rejects.toThrow(/is in use by another wolfscale process/);
      // The refused node left the holder's lock alone.
      expect(parseHolder(await readFile(held.path, 'utf8'))?.pid).toBe(process.pid);
    } finally {
      await held.release();
    }
  });
});
