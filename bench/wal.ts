/**
 * WAL throughput: group-committed appends (256 B and 4 KiB binlog-like payloads, 1 and 64
 * concurrent appenders, fsync on and off), sequential read of a ~1 GiB WAL (decompressed MB/s),
 * and the time to open that WAL. Prints one JSON line last.
 *
 * Environment: APPEND_MS (default 3000) per append case; WAL_BYTES (default 1 GiB) for the
 * read/open case; BENCH_DIR (default the OS temp dir).
 */
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEntry } from '../src/wal/entry.js';
import { Wal } from '../src/wal/wal.js';

const appendMs = Number(process.env['APPEND_MS'] ?? 3000);
const walBytesTarget = Number(process.env['WAL_BYTES'] ?? 1024 ** 3);
const root = await mkdtemp(join(process.env['BENCH_DIR'] ?? tmpdir(), 'wolfscale-bench-wal-'));
const MB = 1_000_000;
/** Other work on this machine skews every number; record how busy it was. */
const loadAtStart = Math.round((loadavg()[0] ?? 0) * 10) / 10;

/** Deterministic generator so runs are comparable. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled'];
const WORDS = [
  'express',
  'gift',
  'fragile',
  'priority',
  'standard',
  'return',
  'warehouse-7',
  'berlin',
  'lyon',
];

/** One row image: binary ids, amount and timestamp, a status and a note with a random token. */
function rowImage(random: () => number, id: number): Buffer {
  const note = `${WORDS[Math.floor(random() * WORDS.length)]} ${Math.floor(random() * 0xffffffff).toString(36)}`;
  const status = STATUSES[Math.floor(random() * STATUSES.length)]!;
  const row = Buffer.alloc(8 + 4 + 8 + 6 + 1 + status.length + 1 + note.length);
  row.writeBigUInt64LE(BigInt(id), 0);
  row.writeUInt32LE(Math.floor(random() * 50_000), 8);
  row.writeBigUInt64LE(BigInt(Math.floor(random() * 1e9)), 12);
  row.writeUIntLE(1_764_000_000_000 + Math.floor(random() * 1e6), 20, 6);
  row[26] = status.length;
  row.write(status, 27, 'latin1');
  row[27 + status.length] = note.length;
  row.write(note, 28 + status.length, 'latin1');
  return row;
}

/**
 * Shaped like a captured row-based transaction: a GTID, a table map, then UPDATE row events whose
 * before and after images differ in one column. LZ4 gets ~1.4x at 256 B and ~2x at 4 KiB: not
 * all zeros, not pure random.
 */
function binlogLikePayload(bytes: number, random: () => number): Buffer {
  const gtid = Buffer.from(
    `\x00GTID 0-1-${Math.floor(random() * 1e9)}\x02TABLE_MAP shop.orders\x1e`,
    'latin1',
  );
  const parts: Buffer[] = [gtid];
  let length = gtid.length;
  let id = Math.floor(random() * 1e6);
  while (length < bytes) {
    const before = rowImage(random, id++);
    const after = Buffer.from(before);
    after.write(STATUSES[Math.floor(random() * STATUSES.length)]!.slice(0, 4), 27, 'latin1');
    const eventHeader = Buffer.from([0x1f, 0, 0, 0, before.length]);
    parts.push(eventHeader, before, after);
    length += eventHeader.length + 2 * before.length;
  }
  return Buffer.concat(parts).subarray(0, bytes);
}

function payloadPool(bytes: number, count: number): Buffer[] {
  const random = seededRandom(bytes);
  return Array.from({ length: count }, () => binlogLikePayload(bytes, random));
}

const pool256 = payloadPool(256, 4096);
const pool4k = payloadPool(4096, 4096);

interface AppendResult {
  readonly perS: number;
  readonly mbPerS: number;
}

/** `concurrency` callers, each appending one entry and awaiting it, for appendMs. */
async function appendCase(
  name: string,
  pool: Buffer[],
  concurrency: number,
  fsync: boolean,
): Promise<AppendResult> {
  const dir = join(root, name);
  const wal = await Wal.open(dir, { fsync });
  let appended = 0;
  let payloadBytes = 0;
  const deadline = performance.now() + appendMs;
  const started = performance.now();
  async function appender(): Promise<void> {
    while (performance.now() < deadline) {
      const index = wal.lastIndex() + 1;
      const payload = pool[index % pool.length]!;
      const entry: LogEntry = { index, term: 1, kind: 'transaction', payload };
      await wal.append([entry]);
      appended += 1;
      payloadBytes += payload.byteLength;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, appender));
  const seconds = (performance.now() - started) / 1000;
  await wal.close();
  await rm(dir, { recursive: true, force: true });
  const result = { perS: Math.round(appended / seconds), mbPerS: round1(payloadBytes / MB / seconds) };
  process.stderr.write(`${name}: ${JSON.stringify(result)}\n`);
  return result;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/**
 * Fills a WAL to ~walBytesTarget on disk with 4 KiB entries, fsync off, 8 batches in flight, and
 * stops only when the last segment is nearly full: open() reads the last segment whole, so this
 * measures the worst case. Then flushes every file, so write-back does not compete with the
 * measured open and read.
 */
async function fillWal(dir: string): Promise<{ lastIndex: number; diskBytes: number }> {
  const wal = await Wal.open(dir, { fsync: false });
  const inFlight: Promise<void>[] = [];
  let index = 0;
  let payloadBytes = 0;
  const started = performance.now();
  // Stored bytes are unknown until written; check the disk size every so often.
  for (;;) {
    const batch: LogEntry[] = [];
    for (let i = 0; i < 256; i += 1) {
      index += 1;
      const payload = pool4k[index % pool4k.length]!;
      payloadBytes += payload.byteLength;
      batch.push({ index, term: 1 + Math.floor(index / 100_000), kind: 'transaction', payload });
    }
    inFlight.push(wal.append(batch));
    if (inFlight.length >= 8) await inFlight.shift();
    // Every 8 batches (~4 MB on disk), with nothing in flight: stop inside the window.
    if (index % (256 * 8) === 0) {
      await Promise.all(inFlight.splice(0));
      if ((await diskBytes(dir)) >= walBytesTarget && (await lastSegmentFull(dir))) break;
    }
  }
  await Promise.all(inFlight);
  await wal.close();
  await flushFiles(dir);
  const bytes = await diskBytes(dir);
  process.stderr.write(
    `filled ${dir}: ${index} entries, ${round1(payloadBytes / MB)} MB payload, ${round1(bytes / MB)} MB on disk in ${Math.round(performance.now() - started)} ms\n`,
  );
  return { lastIndex: index, diskBytes: bytes };
}

const SEGMENT_BYTES = 64 * 1024 * 1024;

async function lastSegmentFull(dir: string): Promise<boolean> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.wal')).sort();
  return (await stat(join(dir, names.at(-1)!))).size >= 0.85 * SEGMENT_BYTES;
}

async function flushFiles(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const file = await open(join(dir, name), 'r+');
    await file.sync();
    await file.close();
  }
}

async function diskBytes(dir: string): Promise<number> {
  const names = await readdir(dir);
  const sizes = await Promise.all(names.map(async (name) => (await stat(join(dir, name))).size));
  return sizes.reduce((sum, size) => sum + size, 0);
}

/**
 * Reads the whole WAL front to back in 4 MiB calls: MB/s of decompressed payload, and MB per
 * CPU-second of this process (reads are CPU-bound; on a shared machine this is the steadier number).
 */
async function readCase(wal: Wal): Promise<{ mbPerS: number; mbPerCpuS: number }> {
  let index = wal.firstIndex();
  let payloadBytes = 0;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  while (index <= wal.lastIndex()) {
    const result = await wal.read(index, wal.lastIndex() + 1, 4 * 1024 * 1024);
    if (!result.ok) throw new Error(`read from ${index}: ${result.error.code}`);
    for (const entry of result.entries) payloadBytes += entry.payload.byteLength;
    index += result.entries.length;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stderr.write(`read ${round1(payloadBytes / MB)} MB in ${Math.round(seconds * 1000)} ms\n`);
  return { mbPerS: round1(payloadBytes / MB / seconds), mbPerCpuS: round1(payloadBytes / MB / cpuSeconds) };
}

try {
  const c64Fsync256 = await appendCase('append_256b_c64_fsync', pool256, 64, true);
  const c1Fsync256 = await appendCase('append_256b_c1_fsync', pool256, 1, true);
  const c64Fsync4k = await appendCase('append_4k_c64_fsync', pool4k, 64, true);
  const c1Fsync4k = await appendCase('append_4k_c1_fsync', pool4k, 1, true);
  const c64NoFsync256 = await appendCase('append_256b_c64_nofsync', pool256, 64, false);
  const c64NoFsync4k = await appendCase('append_4k_c64_nofsync', pool4k, 64, false);

  const bigDir = join(root, 'big');
  const filled = await fillWal(bigDir);
  const segmentNames = (await readdir(bigDir)).filter((name) => name.endsWith('.wal')).sort();
  const lastSegmentBytes = (await stat(join(bigDir, segmentNames.at(-1)!))).size;
  const started = performance.now();
  const wal = await Wal.open(bigDir);
  const openMs = Math.round(performance.now() - started);
  if (wal.lastIndex() !== filled.lastIndex)
    throw new Error(`reopened at ${wal.lastIndex()}, wrote ${filled.lastIndex}`);
  const read = await readCase(wal);
  await wal.close();
  await rm(bigDir, { recursive: true, force: true });

  const result = {
    bench: 'wal',
    append_256b_c64_fsync_per_s: c64Fsync256.perS,
    append_256b_c64_fsync_mb_per_s: c64Fsync256.mbPerS,
    append_256b_c1_fsync_per_s: c1Fsync256.perS,
    append_256b_c1_fsync_mb_per_s: c1Fsync256.mbPerS,
    append_4k_c64_fsync_per_s: c64Fsync4k.perS,
    append_4k_c64_fsync_mb_per_s: c64Fsync4k.mbPerS,
    append_4k_c1_fsync_per_s: c1Fsync4k.perS,
    append_4k_c1_fsync_mb_per_s: c1Fsync4k.mbPerS,
    append_256b_c64_nofsync_per_s: c64NoFsync256.perS,
    append_256b_c64_nofsync_mb_per_s: c64NoFsync256.mbPerS,
    append_4k_c64_nofsync_per_s: c64NoFsync4k.perS,
    append_4k_c64_nofsync_mb_per_s: c64NoFsync4k.mbPerS,
    read_mb_per_s: read.mbPerS,
    read_mb_per_cpu_s: read.mbPerCpuS,
    open_1gib_ms: openMs,
    open_wal_disk_mb: round1(filled.diskBytes / MB),
    open_wal_segments: segmentNames.length,
    open_last_segment_mb: round1(lastSegmentBytes / MB),
    append_ms: appendMs,
    load_avg_1m_at_start: loadAtStart,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await rm(root, { recursive: true, force: true });
}
