// A cluster's pid files (<state dir>/pids/<name>.pid): kept apart from processes.ts, whose
// imports (execa, p-retry) setup's health check would rather not load.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readPidFile } from '../shared/pid-file.ts';

/** The processes the pid files name that run, by name. */
export async function pidFiles(pidsDir: string): Promise<{ name: string; pid: number }[]> {
  const files = await readdir(pidsDir).catch(() => [] as string[]);
  const out = [];
  for (const f of files.filter((x) => x.endsWith('.pid'))) {
    const pid = await readPidFile(join(pidsDir, f));
    if (pid) out.push({ name: f.replace(/\.pid$/, ''), pid });
  }
  return out;
}

/** The pid file of a kept daemon's keeper (singlevm/keeper.sh), beside the daemon's own. */
export const keeperPidFile = (pidFile: string) => pidFile.replace(/\.pid$/, '-keeper.pid');
