// The `ip` command, always aimed at a namespace the cluster made (`ip -n NS …`), so nothing is
// ever created in the host's namespace (docs/singlevm-network.md). Argv arrays only.
import { run } from '../shared/run.ts';

/** Runs `ip -n <ns> <args…>`. */
export async function ipIn(ns: string, ...args: string[]): Promise<string> {
  return (await run('ip', ['-n', ns, ...args])).stdout;
}

/** Runs several `ip` commands in `ns` as one process (`ip -batch`): each line an argv without
 *  `ip -n NS`. They run in order and the first that fails ends the batch, as one after the other
 *  would: the error names its line. With `force`, each runs whatever the others did, and failures
 *  are not thrown (deletions of what may be gone already). A command each from a process costs
 *  milliseconds of CPU that a CNCI's dozen do not need (docs/spawn-helper.md). */
export async function ipBatch(ns: string, lines: readonly (readonly string[])[], opts: { force?: boolean } = {}): Promise<void> {
  if (!lines.length) return;
  for (const arg of lines.flat()) {
    // ip splits a batch line at blanks and reads quotes and backslashes: names and addresses only.
    if (!/^[\w.:/@-]+$/.test(arg)) throw new Error(`ip batch argument ${JSON.stringify(arg)}: not a plain name or address`);
  }
  await run('ip', ['-n', ns, ...(opts.force ? ['-force'] : []), '-batch', '-'], { input: lines.map((l) => `${l.join(' ')}\n`).join(''), allowFailure: opts.force });
}

/** `ip -j` output of a namespace, parsed. */
export async function ipJson<T>(ns: string | undefined, ...args: string[]): Promise<T> {
  const out = (await run('ip', [...(ns ? ['-n', ns] : []), '-j', ...args])).stdout;
  return (out.trim() ? JSON.parse(out) : []) as T;
}

export interface LinkInfo {
  ifname: string;
  address?: string;
  operstate?: string;
  /** e.g. UP (set up), LOWER_UP (carrier). */
  flags?: string[];
  link_type?: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}

export const linksOf = (ns?: string) => ipJson<LinkInfo[]>(ns, '-d', 'link', 'show');
