// A cluster's QEMU processes and their CPU time, for the measuring scripts (scripts/*-cpu.ts).
import { readdir, readFile } from 'node:fs/promises';

/** CPU-seconds the process has used: utime + stime of /proc/PID/stat, in ticks of 1/100 s (after
 *  the command name, which may hold spaces: fields 14 and 15). */
export async function cpuSeconds(pid: number): Promise<number> {
  const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The pid of the QEMU that runs instance `id` of `cluster` (its `-name ciao-<cluster>-<id>`). */
export async function qemuPid(cluster: string, id: string): Promise<number> {
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const c = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (c.startsWith('qemu-system') && c.includes(`\0ciao-${cluster}-${id}\0`)) return Number(e);
  }
  throw new Error(`no QEMU for ${id}`);
}
