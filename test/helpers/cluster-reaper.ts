// A test's throwaway cluster is cleaned up by its teardown, and by a watcher should the test process
// die before its teardown finishes (singlevm/cluster-reaper.ts).
import type { Test } from 'tap';
import { watchCluster } from '../../singlevm/cluster-reaper.ts';

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
  const watcher = watchCluster(c);
  t.teardown(async () => {
    await c.cleanup();
    watcher.done();
  });
  return { watcherPid: watcher.watcherPid };
}
