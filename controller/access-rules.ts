// Keystone's access rules, enforced for the tokens of application credentials that carry them
// (mocks/identity/routes/access-rules.ts): such a token reaches a request only when one rule names
// the service type serving it, its method, and a path template matching the request's path as the
// controller receives it (the catalogue URL's path included: /v2.1/servers/*/ips, /image/v2/images/**).
// In a template `*` is one path segment and `**` the rest of the path (one segment or more).

export interface AccessRule {
  service: string;
  path: string;
  method: string;
}

/** The catalogue service types a controller path is served as; none: not an OpenStack API. */
export function serviceTypesOf(path: string): string[] {
  const first = path.split('/').filter(Boolean)[0];
  if (first === 'v2.1') return ['compute'];
  if (first === 'image') return ['image'];
  if (first === 'volume') return ['volume', 'volumev3', 'block-storage'];
  return [];
}

export function pathMatches(template: string, path: string): boolean {
  const want = template.split('/').filter(Boolean);
  const got = path.split('/').filter(Boolean);
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '**') return i === want.length - 1 && got.length > i;
    if (i >= got.length || (want[i] !== '*' && want[i] !== got[i])) return false;
  }
  return want.length === got.length;
}

/** Whether a request is within the rules. HEAD is its own method, as in Keystone. */
export function allowedBy(rules: AccessRule[], method: string, path: string): boolean {
  const services = serviceTypesOf(path);
  return rules.some((r) => services.includes(r.service) && r.method === method && pathMatches(r.path, path));
}
