// A cluster's pid files (<state dir>/pids/<name>.pid): kept apart from processes.ts, whose
// imports (execa, p-retry) setup's health check would rather not load.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function pidFiles(pidsDir: string): Promise<{ name: string; pid: number }[]> {
  const files = await readdir(pidsDir).catch(() => [] as string[]);
  const out = [];
  for (const f of files.filter((x) => x.endsWith('.pid'))) {
    const pid = Number((await readFile(join(pidsDir, f), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 1) out.push({ name: f.replace(/\.pid$/, ''), pid });
  }
  return out;
}
