// Temporary folders that do not outlive their use: withTempDir removes its folder whether the work
// resolves or throws; tempDir hands one out to remove later, and one left at exit goes then.
import { dirSync, setGracefulCleanup } from 'tmp';

// Once for the process: a folder still there when the process exits (a script's process.exit, a
// test file that failed before its teardown) is removed then, contents and all.
setGracefulCleanup();

export interface TempDir {
  /** A new empty folder in the OS temp dir, named <prefix>-XXXXXX, that only this user can enter (0700). */
  path: string;
  /** Removes the folder and everything in it; a second call does nothing. */
  remove: () => void;
}

/** A temp folder that outlives one function (a test's cluster HOME until its teardown): call remove() when done. */
export function tempDir(prefix: string): TempDir {
  // Synchronous: only tmp's sync removal says when it is done, so remove() is finished when it returns.
  const { name, removeCallback } = dirSync({ template: `${prefix}-XXXXXX`, unsafeCleanup: true });
  return { path: name, remove: removeCallback };
}

/** Runs fn in a new temp folder and removes the folder after, whether fn resolves or throws. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = tempDir(prefix);
  try {
    return await fn(dir.path);
  } finally {
    dir.remove();
  }
}
