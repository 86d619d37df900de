import { type Decoded, decodedError, decodedOk } from './decoded.js';

/** A MariaDB GTID: domain, originating server, sequence number. Printed `domain-server-seq`. */
export interface Gtid {
  readonly domainId: number;
  readonly serverId: number;
  readonly sequenceNumber: bigint;
}

export function formatGtid(gtid: Gtid): string {
  return `${gtid.domainId}-${gtid.serverId}-${gtid.sequenceNumber}`;
}

const gtidPattern = /^(\d{1,10})-(\d{1,10})-(\d{1,20})$/;
const u32Max = 0xffffffff;
const u64Max = 0xffffffffffffffffn;

export function parseGtid(text: string): Decoded<Gtid> {
  const match = gtidPattern.exec(text.trim());
  if (match === null)
    return decodedError('MALFORMED', `"${text}" is not a GTID (expected domain-server-sequence)`);
  const domainId = Number(match[1]);
  const serverId = Number(match[2]);
  const sequenceNumber = BigInt(match[3]!);
  if (domainId > u32Max || serverId > u32Max || sequenceNumber > u64Max) {
    return decodedError('MALFORMED', `GTID "${text}" has a component out of range`);
  }
  return decodedOk({ domainId, serverId, sequenceNumber });
}

/** A GTID position as MariaDB writes it: comma-separated GTIDs, at most one per domain. */
export function parseGtidPosition(text: string): Decoded<readonly Gtid[]> {
  const parts = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  const gtids: Gtid[] = [];
  for (const part of parts) {
    const parsed = parseGtid(part);
    if (!parsed.ok) return parsed;
    if (gtids.some((gtid) => gtid.domainId === parsed.value.domainId)) {
      return decodedError('MALFORMED', `GTID position "${text}" names domain ${parsed.value.domainId} twice`);
    }
    gtids.push(parsed.value);
  }
  return decodedOk(gtids);
}

export function formatGtidPosition(gtids: readonly Gtid[]): string {
  return gtids.map(formatGtid).join(',');
}
