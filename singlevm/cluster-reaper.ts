// A throwaway cluster (a test's, the fuzzer's) is cleaned up even when the process that made it is
// killed (tap's timeout, Ctrl-C, kill -9), not only by its own cleanup. A small watcher in a session
// of its own holds the read end of a pipe from that process: "done" on it means the cleanup ran;
// the pipe closing without it means the process died, and the watcher runs cleanup.sh for the
// cluster and removes its home. No polling: the kernel closes the pipe however the process goes.
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from './processes.ts';

// $1 home, $2 cluster name, $3 cleanup.sh. `read` fails at end of input without a line.
const WATCHER = 'read -r line; [ "$line" = done ] && exit 0; CIAO_HOME="$1" "$3" --name "$2"; rm -rf -- "$1"';

export interface Watched {
  watcherPid: number;
  /** Says the cluster was cleaned up: the watcher ends without doing anything. */
  done(): void;
}

/** Starts the watcher of cluster `name` whose CIAO_HOME is `home` (removed with it). */
export function watchCluster(c: { name: string; home: string }): Watched {
  const watcher = spawn('bash', ['-c', WATCHER, 'ciao-cluster-reaper', c.home, c.name, join(REPO_ROOT, 'singlevm', 'cleanup.sh')], {
    detached: true, stdio: ['pipe', 'ignore', 'ignore'],
  });
  watcher.unref();
  (watcher.stdin as unknown as Socket).unref();
  return { watcherPid: watcher.pid!, done: () => watcher.stdin!.end('done\n') };
}
