// Debian packages as the image builders use them: downloaded with apt-get (no install), unpacked
// with dpkg-deb into a cache folder per package version, so a second build downloads nothing.
import { mkdir, readdir, rename, rm, access } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../shared/run.ts';

const exists = (p: string) => access(p).then(() => true, () => false);

/** The version apt would install, e.g. "6.1.192-2". */
export async function candidateVersion(pkg: string): Promise<string> {
  const out = (await run('apt-cache', ['policy', pkg])).stdout;
  const m = /Candidate:\s+(\S+)/.exec(out);
  if (!m || m[1] === '(none)') throw new Error(`Debian package ${pkg} is not known to apt: run apt-get update`);
  return m[1];
}

/** The versioned package a meta-package points at (linux-image-cloud-amd64 → linux-image-6.1.0-…-cloud-amd64). */
export async function resolveMetaPackage(meta: string, prefix: string): Promise<string> {
  const out = (await run('apt-cache', ['depends', meta])).stdout;
  const dep = out.split('\n').map((l) => l.trim().replace(/^Depends:\s*/, '')).find((l) => l.startsWith(prefix) && l !== meta);
  if (!dep) throw new Error(`cannot tell which ${prefix}* package ${meta} depends on`);
  return dep;
}

/** Unpacks each package (downloaded once) into <cache>/<pkg>_<version>/ and returns those folders. */
export async function unpackPackages(cacheDir: string, packages: string[]): Promise<Map<string, string>> {
  await mkdir(cacheDir, { recursive: true });
  const out = new Map<string, string>();
  for (const pkg of packages) {
    const version = await candidateVersion(pkg);
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
