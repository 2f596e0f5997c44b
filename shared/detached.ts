// Long-lived processes that outlive the command that starts them (the cluster's daemons, dnsmasq,
// QEMU, dockerd, virtiofsd), started and stopped one way: in a session of their own (a Ctrl-C of
// the starting command does not reach them), output appended to a log file, a pid file, a readiness
// wait that gives up at once, naming the log, if the process exits; stopped with SIGTERM, then
// SIGKILL when it has not gone after a grace period.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:net';
import { closeSync, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { AbortError, scaled, waitFor } from './wait-for.ts';
import { isReadyMessage } from './ready-notify.ts';
import { isAlive } from './is-alive.ts';
import { readPidFile } from './pid-file.ts';

export { readPidFile };

export interface DetachedSpec {
  /** What it is, in messages: "dnsmasq of ciao-x-cnci-…". */
  name: string;
  command: string;
  args: string[];
  /** stdout and stderr are appended to it. */
  log: string;
  /** Its pid file: written here once the process starts, unless the program writes it itself
   *  (`pidFileBy: 'process'`: dnsmasq, QEMU, dockerd), in which case the file naming the new
   *  process is part of being ready. */
  pidFile?: string;
  pidFileBy?: 'us' | 'process';
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Ready when this returns true (a socket answers, …); without it, once started. */
  ready?: () => Promise<boolean> | boolean;
  /** The program says when it is ready (shared/ready-notify.ts, over an IPC channel): waited for
   *  before `ready` is asked, so no poll interval comes between its readiness and ours. */
  notifies?: boolean;
  /** How long it may take to be ready (default 10 s; scaled like every wait). */
  readyTimeoutMs?: number;
  pollMs?: number;
  /** Sockets handed to it after its stdio (and IPC channel): the first is its fd 3, or 4 with
   *  `notifies` (a listening socket that outlives it: singlevm/keeper.sh). */
  sockets?: Server[];
  /** A start that fails takes the process's whole group with it: what it started meanwhile too (a
   *  keeper may have started its daemon again). */
  killGroup?: boolean;
  /** Called when the process ends (while this process, its parent, still runs). */
  onExit?: (pid: number, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface Detached {
  pid: number;
  child: ChildProcess;
}

/** How a process ended, for messages. */
export const exitStatus = (code: number | null, signal: NodeJS.Signals | null) =>
  code === null ? `signal ${signal}` : `code ${code}`;

/** Starts the process and waits until it is ready; a process that was not ready in time is killed. */
export async function startDetached(spec: DetachedSpec): Promise<Detached> {
  const out = openSync(spec.log, 'a');
  let child: ChildProcess;
  try {
    const sockets = (spec.sockets ?? []).map(fdOf);
    child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, detached: true, stdio: spec.notifies ? ['ignore', out, out, 'ipc', ...sockets] : ['ignore', out, out, ...sockets] });
  } finally {
    closeSync(out);
  }
  child.unref();
  const pid = child.pid;
  if (!pid) {
    // A program that cannot be run (ENOENT, EACCES) has no pid and says why in an 'error' event.
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`could not start ${spec.name} (${spec.command}): ${err.message}`);
  }
  let ended: string | undefined;
  child.once('exit', (code, signal) => {
    ended = exitStatus(code, signal);
    spec.onExit?.(pid, code, signal);
  });
  if (spec.pidFile && spec.pidFileBy !== 'process') await writeFile(spec.pidFile, `${pid}\n`);
  try {
    if (spec.notifies) await notified(spec, child);
    await waitFor(`${spec.name} to be ready (log: ${spec.log})`, async () => {
      if (ended) throw new AbortError(`${spec.name} exited with ${ended}: see ${spec.log}`);
      if (spec.pidFile && spec.pidFileBy === 'process' && (await readPidFile(spec.pidFile)) !== pid) return false;
      return spec.ready ? spec.ready() : true;
    }, { timeoutMs: spec.readyTimeoutMs ?? 10_000, intervalMs: spec.pollMs ?? 20 });
  } catch (err) {
    if (spec.killGroup) killGroup(pid);
    else if (!ended) child.kill('SIGKILL');
    throw err;
  }
  return { pid, child };
}

/** SIGKILL to the process group `pid` leads (its own: started detached), if any of it is left. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // None of it is left.
  }
}

/** The file descriptor of a listening server, handed to a child as is (Node has no public way to
 *  name it; a server's handle as a stdio entry is taken for a stream, and breaks the spawn). */
function fdOf(server: Server): number {
  const fd = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('a socket to hand over is not listening');
  return fd;
}

/** Until the program says it is ready; rejects at once when it exits first, or at the timeout. The
 *  channel is closed then: it holds neither process. */
async function notified(spec: DetachedSpec, child: ChildProcess): Promise<void> {
  const timeoutMs = scaled(spec.readyTimeoutMs ?? 10_000);
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${(timeoutMs / 1000).toFixed(1)} s waiting for ${spec.name} to say it is ready (log: ${spec.log})`)), timeoutMs);
      child.on('message', (m) => isReadyMessage(m) && resolve());
      child.once('exit', (code, signal) => reject(new Error(`${spec.name} exited with ${exitStatus(code, signal)}: see ${spec.log}`)));
      // A program that exits closes its channel first: its exit, if it comes soon, is the better reason.
      child.once('disconnect', () => setTimeout(() => reject(new Error(`${spec.name} closed its readiness channel without saying it is ready: see ${spec.log}`)), 1000).unref());
    });
  } finally {
    clearTimeout(timer);
    if (child.connected) child.disconnect();
  }
}

/** SIGTERM, then SIGKILL if it has not gone after `graceMs`; resolves once it is gone. */
export async function stopProcess(pid: number, graceMs = 2000): Promise<void> {
  const gone = () => !isAlive(pid);
  if (gone()) return;
  process.kill(pid, 'SIGTERM');
  const ended = await waitFor(`pid ${pid} to end`, gone, { timeoutMs: graceMs, intervalMs: 20 }).catch(() => false);
  if (ended) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // ended between the check and the kill
  }
  await waitFor(`pid ${pid} to end after SIGKILL`, gone, { timeoutMs: 5000, intervalMs: 20 });
}

/** Stops the process its pid file names (nothing when none runs). */
export async function stopFromPidFile(file: string, graceMs = 2000): Promise<void> {
  const pid = await readPidFile(file);
  if (pid) await stopProcess(pid, graceMs);
}
