import type { Gtid } from '../protocol/gtid.js';

/**
 * MariaDB GTIDs and GTID positions (`@@gtid_binlog_pos`, `@@gtid_current_pos`, `@@gtid_slave_pos`):
 * pure parsing, formatting and containment.
 *
 * A position lists at most one GTID per replication domain: the last one applied in that domain.
 * With `gtid_strict_mode=ON` sequence numbers only grow within a domain, so a position "contains"
 * a GTID when it holds the same domain with a sequence number at least as large.
 */

/** One MariaDB GTID: the codec's type, so values pass freely between capture, WAL and applier. */
export type { Gtid };

/** The last GTID per domain, ordered by domain id. */
export type GtidPosition = readonly Gtid[];

export type GtidParseResult =
  | { readonly ok: true; readonly value: GtidPosition }
  | { readonly ok: false; readonly error: { readonly code: 'BAD_GTID_POSITION'; readonly message: string } };

const uint32Max = 0xffff_ffff;
const uint64Max = 0xffff_ffff_ffff_ffffn;
const gtidPattern = /^(\d+)-(\d+)-(\d+)$/;

export function formatGtid(gtid: Gtid): string {
  return `${gtid.domainId}-${gtid.serverId}-${gtid.sequenceNumber}`;
}

/** The server's text form: comma-separated, ordered by domain id; the empty position is ''. */
export function formatGtidPosition(position: GtidPosition): string {
  return position.map(formatGtid).join(',');
}

/**
 * Parses a position as MariaDB prints it: comma-separated GTIDs, whitespace and newlines allowed
 * around them, '' for the empty position. Rejects two GTIDs in one domain (a position names only
 * the last one), ids above 2^32 - 1 and sequence numbers above 2^64 - 1.
 */
export function parseGtidPosition(text: string): GtidParseResult {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: true, value: [] };
  const gtids: Gtid[] = [];
  for (const part of trimmed.split(',')) {
    const parsed = parseGtid(part.trim());
    if (typeof parsed === 'string') return fail(`${parsed} in GTID position '${text}'`);
    if (gtids.some((gtid) => gtid.domainId === parsed.domainId)) {
      return fail(`domain ${parsed.domainId} appears twice in GTID position '${text}'`);
    }
    gtids.push(parsed);
  }
  return { ok: true, value: gtids.sort((a, b) => a.domainId - b.domainId) };
}

/** One GTID, or a string saying what is wrong with it. */
export function parseGtid(text: string): Gtid | string {
  const match = gtidPattern.exec(text);
  if (match === null) return `'${text}' is not a GTID (expected domain-server-sequence, e.g. 0-1-42)`;
  const [, domain = '', server = '', seq = ''] = match;
  const domainId = Number(domain);
  const serverId = Number(server);
  const sequenceNumber = BigInt(seq);
  if (domainId > uint32Max || serverId > uint32Max) return `'${text}' has an id above 2^32 - 1`;
  if (sequenceNumber > uint64Max) return `'${text}' has a sequence number above 2^64 - 1`;
  return { domainId, serverId, sequenceNumber };
}

/** The position's GTID for `domainId`, if any. */
export function gtidInDomain(position: GtidPosition, domainId: number): Gtid | undefined {
  return position.find((gtid) => gtid.domainId === domainId);
}

/**
 * True when `position` already includes `gtid`: same domain, sequence number at least as large.
 * Sound only under `gtid_strict_mode=ON`, where sequence numbers grow within a domain.
 */
export function positionContains(position: GtidPosition, gtid: Gtid): boolean {
  const last = gtidInDomain(position, gtid.domainId);
  return last !== undefined && last.sequenceNumber >= gtid.sequenceNumber;
}

/** `position` with `gtid` as the last GTID of its domain. */
export function positionWith(position: GtidPosition, gtid: Gtid): GtidPosition {
  return [...position.filter((g) => g.domainId !== gtid.domainId), gtid].sort(
    (a, b) => a.domainId - b.domainId,
  );
}

function fail(message: string): GtidParseResult {
  return { ok: false, error: { code: 'BAD_GTID_POSITION', message } };
}
