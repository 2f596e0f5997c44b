// The user's proxy, carried into the nested VM (SPEC §8): read from http_proxy, https_proxy and
// no_proxy (either case); a proxy on the host's loopback is reached from the guest at the address
// QEMU's user-mode network gives the host; no_proxy gains the cluster's own addresses; and the
// settings are written where each tool inside looks for them (the shell, apt, Docker, npm, git).

/** The host as the guest sees it on QEMU's user-mode network. */
export const HOST_FROM_GUEST = '10.0.2.2';
/** Never through a proxy: loopback and the cluster's address plan (SPEC §4: its network, tenant
 *  subnets, external IPs) — the cluster inside the VM talks to itself directly. */
export const CLUSTER_NO_PROXY = ['localhost', '127.0.0.1', '::1', '198.51.100.0/24', '172.16.0.0/12', '203.0.113.0/24'];

export interface ProxySettings {
  http?: string;
  https?: string;
  noProxy: string[];
}

const pick = (env: NodeJS.ProcessEnv, name: string) => env[name] || env[name.toUpperCase()] || undefined;

export function proxyFromEnv(env: NodeJS.ProcessEnv): ProxySettings {
  const noProxy = (pick(env, 'no_proxy') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return { http: pick(env, 'http_proxy'), https: pick(env, 'https_proxy'), noProxy };
}

export const isLoopback = (host: string) => /^(localhost|127(\.\d+){3}|\[?::1\]?|0\.0\.0\.0)$/i.test(host);

/** A proxy URL as the guest must use it: loopback becomes the host's address on the user network. */
export function guestProxyUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url.includes('://') ? url : `http://${url}`);
  } catch {
    throw new Error(`proxy ${JSON.stringify(url)} is not a URL (expected http://host:port)`);
  }
  if (isLoopback(u.hostname)) u.hostname = HOST_FROM_GUEST;
  return u.href.replace(/\/$/, '');
}

/** What the guest uses: loopback proxies rewritten, the cluster's addresses added to no_proxy. */
export function forGuest(p: ProxySettings): ProxySettings {
  const noProxy = [...new Set([...p.noProxy, ...CLUSTER_NO_PROXY])];
  return { http: p.http && guestProxyUrl(p.http), https: p.https && guestProxyUrl(p.https), noProxy };
}

export const hasProxy = (p: ProxySettings) => Boolean(p.http || p.https);

/** The variables, both cases, as NAME=value pairs. */
export function proxyVariables(p: ProxySettings): [string, string][] {
  const vars: [string, string][] = [];
  const both = (name: string, value: string | undefined) => {
    if (value) vars.push([name, value], [name.toUpperCase(), value]);
  };
  both('http_proxy', p.http);
  both('https_proxy', p.https);
  if (hasProxy(p)) both('no_proxy', p.noProxy.join(','));
  return vars;
}

/** The files that configure each tool inside the guest, by path (empty when there is no proxy). */
export function guestProxyFiles(p: ProxySettings): Record<string, string> {
  if (!hasProxy(p)) return {};
  const vars = proxyVariables(p);
  const hostsOnly = p.noProxy.filter((h) => !h.includes('/') && !h.includes(':'));
  const apt = [
    p.http && `Acquire::http::Proxy "${p.http}";`,
    p.https && `Acquire::https::Proxy "${p.https}";`,
    ...hostsOnly.flatMap((h) => [`Acquire::http::Proxy::${h} "DIRECT";`, `Acquire::https::Proxy::${h} "DIRECT";`]),
  ].filter(Boolean);
  const npm = [p.http && `proxy=${p.http}`, p.https && `https-proxy=${p.https}`, `noproxy=${p.noProxy.join(',')}`].filter(Boolean);
  const git = ['[http]', `\tproxy = ${p.https ?? p.http}`].join('\n');
  return {
    '/etc/profile.d/ccloudvm-proxy.sh': vars.map(([k, v]) => `export ${k}='${v}'`).join('\n') + '\n',
    '/etc/apt/apt.conf.d/80ccloudvm-proxy': apt.join('\n') + '\n',
    '/etc/systemd/system/docker.service.d/ccloudvm-proxy.conf': ['[Service]', ...vars.map(([k, v]) => `Environment="${k}=${v}"`)].join('\n') + '\n',
    '/usr/local/etc/npmrc': npm.join('\n') + '\n',
    '/etc/gitconfig': git + '\n',
  };
}
