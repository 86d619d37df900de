import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Diagnostic trace of the write path (off unless WOLFSCALE_WRITE_TRACE names a directory): each
 * node process appends `<monotonic ns> <point> <index>` lines to `<dir>/<pid>.trace`. The clock is
 * process.hrtime (CLOCK_MONOTONIC, shared by every process on one machine), so the lines of a
 * leader and its followers on one host merge into one timeline per log index
 * (`scripts/write-trace-report.ts`).
 */
const traceDir = process.env['WOLFSCALE_WRITE_TRACE'];
export const writeTraceOn = traceDir !== undefined && traceDir !== '';

let lines: string[] = [];
let label = '';
let timer: NodeJS.Timeout | undefined;

function flush(): void {
  if (lines.length === 0 || traceDir === undefined) return;
  const text = `${lines.join('\n')}\n`;
  lines = [];
  appendFileSync(join(traceDir, `${process.pid}.trace`), text);
}

/** Names this process in the trace (its node id). */
export function writeTraceLabel(name: string): void {
  if (!writeTraceOn) return;
  label = name;
  lines.push(`0 label:${label} 0`);
}

/** Monotonic now, for a point whose index is known only later (`traceWriteAt`). */
export function traceNow(): bigint {
  return writeTraceOn ? process.hrtime.bigint() : 0n;
}

const stamps = new WeakMap<object, { readonly firstNs: bigint; readonly ns: bigint }>();
/**
 * Remembers when `subject` (a captured transaction) was complete, and when its first packet
 * arrived (`firstNs`); `stampOf` reads them back.
 */
export function stamp(subject: object, firstNs: bigint): void {
  if (writeTraceOn) stamps.set(subject, { firstNs, ns: process.hrtime.bigint() });
}
export function stampOf(subject: object): { readonly firstNs: bigint; readonly ns: bigint } {
  return stamps.get(subject) ?? { firstNs: 0n, ns: 0n };
}

export function traceWrite(point: string, index: number): void {
  if (!writeTraceOn) return;
  traceWriteAt(point, index, process.hrtime.bigint());
}

export function traceWriteAt(point: string, index: number, ns: bigint): void {
  if (!writeTraceOn) return;
  lines.push(`${ns} ${point} ${index}`);
  if (timer === undefined) {
    timer = setInterval(flush, 500);
    timer.unref();
    process.once('exit', flush);
  }
}
