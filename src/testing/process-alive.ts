import { readFileSync } from 'node:fs';

/**
 * Whether a process is running. A zombie (exited, not yet waited for by its parent) counts as
 * gone: orphaned servers are reparented to an init that may never reap them.
 */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Format: "pid (comm) state ..."; comm may itself contain spaces and parentheses.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
