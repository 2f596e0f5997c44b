// Debian packages as the image builders use them: downloaded with apt-get (no install), unpacked
// with dpkg-deb into a cache folder per package version, so a second build downloads nothing.
import { mkdir, readdir, readFile, rename, rm, access, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';

const exists = (p: string) => access(p).then(() => true, () => false);

/** apt's answers depend only on its package lists: remembered until those change (a warm setup asks apt nothing). */
async function listsStamp(): Promise<string> {
  return String((await stat('/var/lib/apt/lists').catch(() => undefined))?.mtimeMs ?? 0);
}

async function remembered(cacheDir: string, key: string, ask: () => Promise<string>): Promise<string> {
  const file = join(cacheDir, 'apt-answers.json');
  const stamp = await listsStamp();
  const known = await readFile(file, 'utf8').then((s) => JSON.parse(s) as { stamp: string; answers: Record<string, string> }, () => undefined);
  const answers = known?.stamp === stamp ? known.answers : {};
  if (answers[key]) return answers[key];
  answers[key] = await ask();
  await mkdir(cacheDir, { recursive: true });
  await writeFile(`${file}.${process.pid}`, JSON.stringify({ stamp, answers }));
  await rename(`${file}.${process.pid}`, file);
  return answers[key];
}

/** The version apt would install, e.g. "6.1.192-2". */
export async function candidateVersion(pkg: string, cacheDir: string): Promise<string> {
  return remembered(cacheDir, `version ${pkg}`, async () => {
    const out = (await run('apt-cache', ['policy', pkg])).stdout;
    const m = /Candidate:\s+(\S+)/.exec(out);
    if (!m || m[1] === '(none)') throw new Error(`Debian package ${pkg} is not known to apt: run apt-get update`);
    return m[1];
  });
}

/** The versioned package a meta-package points at (linux-image-cloud-amd64 → linux-image-6.1.0-…-cloud-amd64). */
export async function resolveMetaPackage(meta: string, prefix: string, cacheDir: string): Promise<string> {
  return remembered(cacheDir, `depends ${meta}`, async () => {
    const out = (await run('apt-cache', ['depends', meta])).stdout;
    const dep = out.split('\n').map((l) => l.trim().replace(/^Depends:\s*/, '')).find((l) => l.startsWith(prefix) && l !== meta);
    if (!dep) throw new Error(`cannot tell which ${prefix}* package ${meta} depends on`);
    return dep;
  });
}

/** Unpacks each package (downloaded once) into <cache>/<pkg>_<version>/ and returns those folders. */
export async function unpackPackages(cacheDir: string, packages: string[]): Promise<Map<string, string>> {
  await mkdir(cacheDir, { recursive: true });
  const out = new Map<string, string>();
  for (const pkg of packages) {
    const version = await candidateVersion(pkg, cacheDir);
    const dir = join(cacheDir, `${pkg}_${version.replace(/[:/]/g, '_')}`);
    if (!(await exists(dir))) {
      const work = `${dir}.partial`;
      await rm(work, { recursive: true, force: true });
      await mkdir(work, { recursive: true });
      await run('apt-get', ['download', `${pkg}=${version}`], { cwd: work });
      const deb = (await readdir(work)).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
      await run('dpkg-deb', ['-x', join(work, deb), join(work, 'root')]);
      await rename(join(work, 'root'), dir);
      await rm(work, { recursive: true, force: true });
    }
    out.set(pkg, dir);
  }
  return out;
}
