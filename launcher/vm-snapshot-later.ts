// Templates made after the launcher's own (docs/vm-snapshots.md, "Made later"): the launcher makes
// at its start the templates of the shapes setup names (the default VM workloads'); a VM of another
// shape cold-boots until its template is there. So once those are made, it makes, one at a time and
// niced (only the CPU nothing else wants), the templates VMs of this node are likely to ask for next:
// each named shape without a disk (a boot from a volume), and the shapes this machine made templates
// of before, under another key (another guest image, QEMU or template format: their templates are
// of no use now, but their shapes were used).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotShape, VmSnapshots } from './vm-snapshot.ts';

type Size = Pick<SnapshotShape, 'vcpus' | 'memMB' | 'diskMB'>;

/** At most this many shapes are made later (the newest made before first). */
export const LATER_MAX = 6;

const sizeKey = (s: Size) => `${s.vcpus}:${s.memMB}:${s.diskMB}`;
const isCount = (n: unknown, min: number) => Number.isInteger(n) && (n as number) >= min && (n as number) <= 1 << 20;

/** The shapes of the templates in `dir` made for `accel` (any key), the newest first. */
export async function shapesMadeBefore(dir: string, accel: SnapshotShape['accel']): Promise<Size[]> {
  const found: { size: Size; at: number }[] = [];
  for (const key of await readdir(dir).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{24}$/.test(key)) continue;
    const file = join(dir, key, 'template.json');
    const made = await readFile(file, 'utf8').then((t) => JSON.parse(t) as unknown, () => undefined).catch(() => undefined) as Record<string, unknown> | null | undefined;
    if (!made || typeof made !== 'object' || made.accel !== accel || !isCount(made.vcpus, 1) || !isCount(made.memMB, 1) || !isCount(made.diskMB ?? 0, 0)) continue;
    const at = await stat(file).then((st) => st.mtimeMs, () => undefined);
    if (at === undefined) continue;
    found.push({ size: { vcpus: made.vcpus as number, memMB: made.memMB as number, diskMB: (made.diskMB ?? 0) as number }, at });
  }
  return found.sort((a, b) => b.at - a.at).map((f) => f.size);
}

/** The shapes to make later: each of `now` without a disk, then those made before; none of `now`,
 *  each once, at most LATER_MAX. */
export function laterShapes(now: Size[], before: Size[]): Size[] {
  const seen = new Set(now.map(sizeKey));
  const later: Size[] = [];
  for (const size of [...now.map((s) => ({ ...s, diskMB: 0 })), ...before]) {
    if (seen.has(sizeKey(size)) || later.length >= LATER_MAX) continue;
    seen.add(sizeKey(size));
    later.push(size);
  }
  return later;
}

/** Makes the templates of `now` (at once), then of the later shapes, one at a time in the background. */
export async function prepareTemplates(snapshots: VmSnapshots, dir: string, image: Pick<SnapshotShape, 'kernel' | 'initrd' | 'accel'>, now: Size[], later: boolean): Promise<void> {
  const before = later ? await shapesMadeBefore(dir, image.accel) : [];
  await Promise.all(now.map((size) => snapshots.prepare({ ...image, ...size })));
  if (!later) return;
  for (const size of laterShapes(now, before)) await snapshots.prepare({ ...image, ...size }, { background: true });
}
