/**
 * WAL throughput: group-committed appends (256 B and 4 KiB binlog-like payloads, 1 and 64
 * concurrent appenders, fsync on and off), sequential read of a ~1 GiB WAL (decompressed MB/s),
 * and the time to open that WAL. Prints one JSON line last.
 *
 * Environment: APPEND_MS (default 3000) per append case; WAL_BYTES (default 1 GiB) for the
 * read/open case; BENCH_DIR (default the OS temp dir).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEntry } from '../src/wal/entry.js';
import { Wal } from '../src/wal/wal.js';

const appendMs = Number(process.env['APPEND_MS'] ?? 3000);
const walBytesTarget = Number(process.env['WAL_BYTES'] ?? 1024 ** 3);
const root = await mkdtemp(join(process.env['BENCH_DIR'] ?? tmpdir(), 'wolfscale-bench-wal-'));
const MB = 1_000_000;

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

const COLUMNS = ['id', 'customer_id', 'status', 'amount', 'created_at', 'note', 'sku', 'warehouse'];

/**
 * Shaped like a row-based binlog transaction: a GTID, table-map and row-image bytes in which
 * column names and value prefixes repeat (LZ4 finds ~2-4x), random tokens and binary bytes.
 */
function binlogLikePayload(bytes: number, random: () => number): Buffer {
  const parts: string[] = [`GTID 0-1-${Math.floor(random() * 1e9)} TABLE_MAP shop.orders ROWS `];
  let length = parts[0]!.length;
  while (length < bytes) {
    const column = COLUMNS[Math.floor(random() * COLUMNS.length)]!;
    const token = Math.floor(random() * 0xffffffff).toString(36);
    const part = `${column}=${token}:${Math.floor(random() * 1000)}|`;
    parts.push(part);
    length += part.length;
  }
  const payload = Buffer.from(parts.join(''), 'latin1').subarray(0, bytes);
  for (let i = 0; i < payload.length; i += 29) payload[i] = Math.floor(random() * 256);
  return payload;
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

/** Fills a WAL to ~walBytesTarget on disk with 4 KiB entries, fsync off, 8 batches in flight. */
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
    if (index % (256 * 64) === 0 && (await diskBytes(dir)) >= walBytesTarget) break;
  }
  await Promise.all(inFlight);
  await wal.close();
  const bytes = await diskBytes(dir);
  process.stderr.write(
    `filled ${dir}: ${index} entries, ${round1(payloadBytes / MB)} MB payload, ${round1(bytes / MB)} MB on disk in ${Math.round(performance.now() - started)} ms\n`,
  );
  return { lastIndex: index, diskBytes: bytes };
}

async function diskBytes(dir: string): Promise<number> {
  const { readdir, stat } = await import('node:fs/promises');
  const names = await readdir(dir);
  const sizes = await Promise.all(names.map(async (name) => (await stat(join(dir, name))).size));
  return sizes.reduce((sum, size) => sum + size, 0);
}

/** Reads the whole WAL front to back in 4 MiB calls; MB/s of decompressed payload. */
async function readCase(wal: Wal): Promise<number> {
  let index = wal.firstIndex();
  let payloadBytes = 0;
  const started = performance.now();
  while (index <= wal.lastIndex()) {
    const result = await wal.read(index, wal.lastIndex() + 1, 4 * 1024 * 1024);
    if (!result.ok) throw new Error(`read from ${index}: ${result.error.code}`);
    for (const entry of result.entries) payloadBytes += entry.payload.byteLength;
    index += result.entries.length;
  }
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(`read ${round1(payloadBytes / MB)} MB in ${Math.round(seconds * 1000)} ms\n`);
  return round1(payloadBytes / MB / seconds);
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
  let started = performance.now();
  const wal = await Wal.open(bigDir);
  const openMs = Math.round(performance.now() - started);
  if (wal.lastIndex() !== filled.lastIndex)
    throw new Error(`reopened at ${wal.lastIndex()}, wrote ${filled.lastIndex}`);
  started = performance.now();
  const readMbPerS = await readCase(wal);
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
    read_mb_per_s: readMbPerS,
    open_1gib_ms: openMs,
    open_wal_disk_mb: round1(filled.diskBytes / MB),
    append_ms: appendMs,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await rm(root, { recursive: true, force: true });
}
