// Reading a pid file, the one way: the pid it names, if that process runs. Kept apart from
// shared/detached.ts, whose imports setup's sub-second health check would rather not load.
import { readFile } from 'node:fs/promises';
import { isAlive } from './is-alive.ts';

export async function readPidFile(file: string): Promise<number | undefined> {
  const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 1 && isAlive(pid) ? pid : undefined;
}
