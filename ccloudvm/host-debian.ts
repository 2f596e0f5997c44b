// Which Debian this host runs and where its apt gets it from: the nested VM's image is built from
// the same release and the same mirror (no other download source exists on these machines).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface HostDebian {
  codename: string;
  /** The mirror of the release itself (e.g. http://deb.debian.org/debian). */
  mirror: string;
  /** The mirror of its security updates, when apt has one. */
  security?: string;
}

interface Entry { uris: string[]; suites: string[] }

/** Entries of deb822 `.sources` files (only `Types: deb`). */
export function parseDeb822(text: string): Entry[] {
  return text.split(/\n\s*\n/).flatMap((stanza) => {
    const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'mi').exec(stanza)?.[1].trim().split(/\s+/) ?? [];
    if (!field('Types').includes('deb') || field('Enabled')[0] === 'no') return [];
    return [{ uris: field('URIs'), suites: field('Suites') }];
  });
}

/** Entries of one-line `sources.list` files (`deb [opts] uri suite components…`). */
export function parseOneLine(text: string): Entry[] {
  return text.split('\n').flatMap((line) => {
    const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    return m ? [{ uris: [m[1]], suites: [m[2]] }] : [];
  });
}

/** The mirror serving `codename` and the one serving `codename-security`, from apt's entries. */
export function pickMirrors(codename: string, entries: Entry[]): Omit<HostDebian, 'codename'> {
  const serving = (suite: string) => entries.find((e) => e.suites.includes(suite))?.uris[0]?.replace(/\/+$/, '');
  const mirror = serving(codename);
  if (!mirror) throw new Error(`apt has no source for Debian ${codename} (looked in /etc/apt/sources.list and sources.list.d): the nested VM's image is built from it`);
  return { mirror, security: serving(`${codename}-security`) };
}

export async function hostDebian(etc = '/etc'): Promise<HostDebian> {
  const osRelease = await readFile(join(etc, 'os-release'), 'utf8');
  const codename = /^VERSION_CODENAME=\W?(\w+)/m.exec(osRelease)?.[1];
  if (!codename) throw new Error(`${join(etc, 'os-release')} names no VERSION_CODENAME: the nested VM needs a Debian host`);
  const entries: Entry[] = parseOneLine(await readFile(join(etc, 'apt/sources.list'), 'utf8').catch(() => ''));
  const dir = join(etc, 'apt/sources.list.d');
  for (const f of (await readdir(dir).catch(() => [] as string[])).sort()) {
    const text = await readFile(join(dir, f), 'utf8');
    if (f.endsWith('.sources')) entries.push(...parseDeb822(text));
    else if (f.endsWith('.list')) entries.push(...parseOneLine(text));
  }
  return { codename, ...pickMirrors(codename, entries) };
}
