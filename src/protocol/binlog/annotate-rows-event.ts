import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';

/**
 * MariaDB ANNOTATE_ROWS (type 160): the SQL text of the statement that produced the row events
 * that follow (with `binlog_annotate_row_events=ON`). Informational only.
 */
export interface AnnotateRowsEvent {
  readonly kind: 'annotate_rows';
  readonly query: string;
}

export function readAnnotateRowsBody(reader: ByteReader): AnnotateRowsEvent {
  return { kind: 'annotate_rows', query: reader.rest().toString('utf8') };
}

export function writeAnnotateRowsBody(writer: ByteWriter, event: AnnotateRowsEvent): void {
  writer.string(event.query);
}
