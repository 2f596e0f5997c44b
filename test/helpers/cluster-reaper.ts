// A test's own cluster is cleaned up even when the test process is killed (tap's timeout, Ctrl-C,
// kill -9), not only by its teardown. A small watcher in a session of its own holds the read end of
// a pipe from the test process: "done" on it means the teardown cleaned up; the pipe closing without
// it means the test process died, and the watcher runs cleanup.sh for the cluster and removes its
// home. No polling: the kernel closes the pipe when the test process goes, however it goes.
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import { REPO_ROOT } from '../../singlevm/processes.ts';

// $1 home, $2 cluster name, $3 cleanup.sh. `read` fails at end of input without a line.
const WATCHER = 'read -r line; [ "$line" = done ] && exit 0; CIAO_HOME="$1" "$3" --name "$2"; rm -rf -- "$1"';

export interface ReapedCluster {
  name: string;
  /** The cluster's throwaway CIAO_HOME (removed with it). */
  home: string;
  /** Cleans up the cluster and removes its home: the teardown's work. */
  cleanup: () => Promise<unknown>;
}

/** Registers the cluster's cleanup as the test's teardown, and as the watcher's work should the
 *  test process die before its teardown finishes. */
export function reapCluster(t: Pick<Test, 'teardown'>, c: ReapedCluster): { watcherPid: number } {
  const watcher = spawn('bash', ['-c', WATCHER, 'ciao-test-reaper', c.home, c.name, join(REPO_ROOT, 'singlevm', 'cleanup.sh')], {
    detached: true, stdio: ['pipe', 'ignore', 'ignore'],
  });
  watcher.unref();
  (watcher.stdin as unknown as Socket).unref();
  t.teardown(async () => {
    await c.cleanup();
    watcher.stdin!.end('done\n');
  });
  return { watcherPid: watcher.pid! };
}
