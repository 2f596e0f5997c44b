// The proxy variables of setup's environment, as workloads get them (docs/egress.md, "Proxies"):
// a proxy on the host's loopback becomes slirp4netns's gateway (its port is then opened), and
// no_proxy gains the cluster's own names and ranges.
import { CLUSTER_RANGES, EGRESS_NET, HOST_NAME } from './egress.ts';

/** What workloads are given, and the host loopback ports the proxies need opened. */
export interface ProxySetting {
  http?: string;
  https?: string;
  noProxy: string;
  hostPorts: number[];
}

export class ProxyError extends Error {}

/** Goes into a shell file in the guest, single-quoted: none of these may be in it. */
const UNSAFE = /[\s'"\\$`]/;
const LOOPBACK = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** The proxy variables of `env` (lower case first), checked and rewritten; undefined when none is set. */
export function proxyFromEnv(env: NodeJS.ProcessEnv): ProxySetting | undefined {
  const read = (name: string) => {
    const v = env[name] ?? env[name.toUpperCase()];
    if (v !== undefined && UNSAFE.test(v)) throw new ProxyError(`${name}=${JSON.stringify(v)}: a quote, space, backslash, $ or backquote cannot be given to workloads`);
    return v || undefined;
  };
  const [http, https, noProxy] = [read('http_proxy'), read('https_proxy'), read('no_proxy')];
  if (!http && !https) return undefined;
  const hostPorts: number[] = [];
  const rewrite = (name: string, value: string | undefined) => {
    if (!value) return undefined;
    let url: URL;
    try {
      url = new URL(value.includes('://') ? value : `http://${value}`);
    } catch {
      throw new ProxyError(`${name}=${JSON.stringify(value)} is not a URL (e.g. http://proxy.example:3128)`);
    }
    if (!LOOPBACK.test(url.hostname)) return value;
    if (!url.port) throw new ProxyError(`${name}=${JSON.stringify(value)}: a proxy on the host's loopback must name its port (e.g. http://127.0.0.1:3128)`);
    hostPorts.push(Number(url.port));
    url.hostname = EGRESS_NET.gateway;
    return url.href.replace(/\/$/, value.endsWith('/') ? '/' : '');
  };
  const own = ['localhost', '127.0.0.1', HOST_NAME, EGRESS_NET.gateway, ...CLUSTER_RANGES];
  return {
    ...(http ? { http: rewrite('http_proxy', http) } : {}),
    ...(https ? { https: rewrite('https_proxy', https) } : {}),
    noProxy: [...new Set([...(noProxy?.split(',').filter(Boolean) ?? []), ...own])].join(','),
    hostPorts: [...new Set(hostPorts)],
  };
}

/** The variables a workload gets, in both cases. */
export function workloadEnv(p: ProxySetting): Record<string, string> {
  const out: Record<string, string> = {};
  const both = (name: string, v: string | undefined) => {
    if (v) out[name] = out[name.toUpperCase()] = v;
  };
  both('http_proxy', p.http);
  both('https_proxy', p.https);
  both('no_proxy', p.noProxy);
  return out;
}
