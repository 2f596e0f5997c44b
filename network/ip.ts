// The `ip` command, always aimed at a namespace the cluster made (`ip -n NS …`), so nothing is
// ever created in the host's namespace (docs/singlevm-network.md). Argv arrays only.
import { run } from '../shared/run.ts';

/** Runs `ip -n <ns> <args…>`. */
export async function ipIn(ns: string, ...args: string[]): Promise<string> {
  return (await run('ip', ['-n', ns, ...args])).stdout;
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
  link_type?: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}

export const linksOf = (ns?: string) => ipJson<LinkInfo[]>(ns, '-d', 'link', 'show');
