import { type ChildProcess, spawn } from 'node:child_process';

/**
 * A watchdog process that outlives its owner just long enough to clean up after it.
 *
 * The owner tells the reaper which process ids and directories it owns, over the reaper's
 * stdin. When that pipe closes — the owner exited normally, was interrupted (SIGINT), or was
 * killed outright (SIGKILL, where no handler of ours runs) — the reaper kills every process it
 * still holds with SIGKILL and removes every directory it still holds, then exits.
 *
 * Why a separate process: signal handlers do not run on SIGKILL, and test runners kill their
 * workers; only a process on the other end of a pipe notices every way its owner can die.
 *
 * The reaper's own code is plain JavaScript passed with `node -e`, so it runs the same from the
 * TypeScript sources (tsx) and from the compiled package.
 */
const reaperSource = String.raw`
const fs = require('node:fs');
const pids = new Set();
const dirs = new Set();
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  let newline;
  while ((newline = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, newline);
    pending = pending.slice(newline + 1);
    let message;
    try { message = JSON.parse(line); } catch { continue; }
    if (message.op === 'watch-pid') pids.add(message.pid);
    else if (message.op === 'forget-pid') pids.delete(message.pid);
    else if (message.op === 'watch-dir') dirs.add(message.dir);
    else if (message.op === 'forget-dir') dirs.delete(message.dir);
  }
});
const reap = () => {
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch {} }
  const deadline = Date.now() + 10000;
  // A zombie (state Z) has exited; only its parent's wait() is missing.
  const alive = (pid) => {
    try { return !/^\d+ \(.*\) Z/.test(fs.readFileSync('/proc/' + pid + '/stat', 'utf8')); }
    catch { try { process.kill(pid, 0); return !fs.existsSync('/proc'); } catch { return false; } }
  };
  const finish = () => {
    if ([...pids].some(alive) && Date.now() < deadline) { setTimeout(finish, 20); return; }
    for (const dir of dirs) { try { fs.rmSync(dir, { recursive: true, force: true }); } catch {} }
    process.exit(0);
  };
  finish();
};
process.stdin.on('end', reap);
process.stdin.on('close', reap);
process.stdin.on('error', reap);
`;

type ReaperMessage =
  | { readonly op: 'watch-pid'; readonly pid: number }
  | { readonly op: 'forget-pid'; readonly pid: number }
  | { readonly op: 'watch-dir'; readonly dir: string }
  | { readonly op: 'forget-dir'; readonly dir: string };

export class Reaper {
  static #shared: Reaper | undefined;

  /** The one reaper of this process, started on first use. */
  static shared(): Reaper {
    Reaper.#shared ??= new Reaper();
    return Reaper.#shared;
  }

  readonly #child: ChildProcess;

  private constructor() {
    // detached: its own process group, so a Ctrl+C aimed at the test run does not reach it
    // before it has done its work.
    this.#child = spawn(process.execPath, ['-e', reaperSource], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    this.#child.unref();
    const stdin = this.#child.stdin;
    if (stdin === null) throw new Error('reaper: no stdin pipe');
    // The pipe must not keep the owner alive, and must not crash it if the reaper is gone.
    (stdin as unknown as { unref?: () => void }).unref?.();
    stdin.on('error', () => {});
  }

  watchPid(pid: number): void {
    this.#send({ op: 'watch-pid', pid });
  }

  forgetPid(pid: number): void {
    this.#send({ op: 'forget-pid', pid });
  }

  watchDir(dir: string): void {
    this.#send({ op: 'watch-dir', dir });
  }

  forgetDir(dir: string): void {
    this.#send({ op: 'forget-dir', dir });
  }

  #send(message: ReaperMessage): void {
    this.#child.stdin?.write(`${JSON.stringify(message)}\n`);
  }
}
