// Commands in a guest over SSH, from one of the cluster's namespaces, with one shared connection
// per guest: each new SSH connection costs a TCG guest about 0.2 CPU-seconds of emulated crypto,
// a command over a live connection a small fraction of it (docs/bat.md, "SSH into guests").
// The shared connection is OpenSSH's own (ControlMaster), kept in the cluster's state dir so that
// stop and cleanup find its process by that path and end it with the cluster.
import { createHash } from 'node:crypto';
import { lstat, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, run, type RunResult } from '../shared/run.ts';
import { scaled } from '../shared/wait-for.ts';
import { clusterOfNamespace } from '../network/namespaces.ts';
import { clusterPaths } from './cluster-files.ts';

/** How long a shared connection stays open with no command on it. */
export const PERSIST_S = 15;
/** A shared connection whose guest stops answering (rebooted, restored, paused, stopped, deleted)
 *  ends after about INTERVAL × (COUNT + 1) s; the commands waiting on it then fail with 255 and go
 *  again on a connection of their own. */
export const ALIVE_INTERVAL_S = 1;
export const ALIVE_COUNT = 2;
/** sockaddr_un holds 108 bytes; OpenSSH binds a temporary name (the path + 17 characters) first. */
const MAX_SOCKET_PATH = 108 - 17 - 1;

/** The ssh arguments of one command: over the shared connection at `control` (made when there is
 *  none), or on a connection of its own when `control` is undefined. */
export function sshArgs(ip: string, key: string, command: string, control?: string): string[] {
  const shared = control === undefined
    ? ['-o', 'ControlMaster=no', '-o', 'ControlPath=none']
    : ['-o', 'ControlMaster=auto', '-o', `ControlPath=${control}`, '-o', `ControlPersist=${PERSIST_S}`,
      '-o', `ServerAliveInterval=${ALIVE_INTERVAL_S}`, '-o', `ServerAliveCountMax=${ALIVE_COUNT}`];
  return ['-q', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', `ConnectTimeout=${scaled(2)}`, ...shared, '-i', key, `demouser@${ip}`, command];
}

/** The control socket of the connection to `ip` from `ns` with the key file whose identity is `keyId`
 *  (its path, device, inode and change time: a key written anew is another key), in `dir`; undefined
 *  when the path would be too long for a socket. */
export function controlSocket(dir: string, ns: string, ip: string, keyId: string): string | undefined {
  const name = createHash('sha256').update([ns, ip, keyId].join('\0')).digest('hex').slice(0, 24);
  const path = join(dir, name);
  return Buffer.byteLength(path) <= MAX_SOCKET_PATH ? path : undefined;
}

/** Whether a failed try goes again on a connection of its own: only when it went over a shared
 *  connection that was already there (exit 255: ssh's own failure, e.g. that connection's guest is
 *  gone), never when the try made the connection itself (the guest did not answer: trying again at
 *  once would only double the wait). */
export const retryAlone = (exitCode: number, sharedBefore: boolean) => exitCode === 255 && sharedBefore;

/** The cluster's folder for control sockets (`<state dir>/ssh-mux`, 0700, ours), or undefined when
 *  the namespace is no cluster's or the cluster's state dir is not on this host (no sharing then;
 *  nor with CIAO_SSH_SHARED=0: every command on a connection of its own, as before, to compare).
 *  The state dir is demo.sh's CIAO_STATE_DIR for its cluster, else where clusterPaths says. */
async function muxDir(ns: string): Promise<string | undefined> {
  const cluster = clusterOfNamespace(ns);
  if (!cluster || process.env.CIAO_SSH_SHARED === '0') return undefined;
  const stateDir = process.env.CIAO_CLUSTER === cluster && process.env.CIAO_STATE_DIR ? process.env.CIAO_STATE_DIR : clusterPaths(cluster).stateDir;
  if (!(await stat(stateDir).then((s) => s.isDirectory(), () => false))) return undefined;
  const dir = join(stateDir, 'ssh-mux');
  await mkdir(dir, { mode: 0o700 }).catch(() => undefined);
  const s = await lstat(dir).catch(() => undefined);
  const own = s?.isDirectory() && (s.mode & 0o077) === 0 && s.uid === process.getuid?.();
  return own ? dir : undefined;
}

/** The key file's path, device, inode and change time; undefined when it is not there (ssh then says why). */
const keyIdentity = (key: string) => stat(key).then((s) => [key, s.dev, s.ino, s.ctimeMs].join(':'), () => undefined);

const sshIn = (ns: string, args: string[]) => run('ip', ['netns', 'exec', ns, 'ssh', ...args], { timeout: scaled(10_000), allowFailure: true });

/** Runs a command in a guest over SSH as demouser from namespace `ns`; throws when SSH does not
 *  answer or the command fails. A command whose try over a shared connection fails with 255 runs
 *  once more on a connection of its own (so a command may run twice: every caller's is a read or
 *  writes the same thing again). */
export async function sshRun(ns: string, ip: string, key: string, command: string): Promise<string> {
  const [dir, keyId] = await Promise.all([muxDir(ns), keyIdentity(key)]);
  const control = dir && keyId ? controlSocket(dir, ns, ip, keyId) : undefined;
  const sharedBefore = !!control && await lstat(control).then((s) => s.isSocket(), () => false);
  let args = sshArgs(ip, key, command, control);
  let r: RunResult = await sshIn(ns, args);
  if (r.exitCode !== 0 && retryAlone(r.exitCode, sharedBefore)) {
    args = sshArgs(ip, key, command);
    r = await sshIn(ns, args);
  }
  if (r.exitCode !== 0) throw new CommandError(['ip', 'netns', 'exec', ns, 'ssh', ...args], r.exitCode, r.stderr || (r.exitCode === -1 ? 'timed out or killed' : ''));
  return r.stdout.trim();
}
