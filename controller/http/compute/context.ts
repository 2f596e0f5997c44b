// What every compute route module shares: registration under both URL forms, microversioned, the
// caller's project as a tenant (both from ../compute-scope.ts, which the keypair, server-group and
// limits modules use too), and links.
import type { Handler, Request, RouteOptions, Router } from '../../../shared/http-router.ts';
import type { Tenant } from '../../api-types.ts';
import type { Caller } from '../../auth.ts';
import type { Services } from '../../services.ts';
import { computeCaller, computeRoute } from '../compute-scope.ts';

export interface Link { rel: string; href: string }

export interface ComputeApi {
  s: Services;
  /** A route under /v2.1 and /v2.1/{project_id}, with its microversion negotiated. */
  on(method: string, path: string, handler: Handler, opts?: RouteOptions): void;
  /** The caller, whose token must be scoped to a project (the path's, when it names one). */
  scoped(req: Request): Promise<{ caller: Caller; tenant: Tenant }>;
  url(path: string): string;
  links(path: string): Link[];
}

export function computeApi(router: Router, s: Services, baseUrl: () => string): ComputeApi {
  const url = (path: string) => `${baseUrl()}/v2.1${path}`;
  return {
    s,
    on: computeRoute(router),
    scoped: (req) => computeCaller(s, req),
    url,
    links: (path) => [{ rel: 'self', href: url(path) }, { rel: 'bookmark', href: url(path) }],
  };
}
