// What every compute route module shares: registration under both URL forms, microversioned, the
// caller's project as a tenant, and links.
import { ApiError } from '../../../shared/errors.ts';
import type { Handler, Request, RouteOptions, Router } from '../../../shared/http-router.ts';
import type { Tenant } from '../../api-types.ts';
import type { Caller } from '../../auth.ts';
import type { Services } from '../../services.ts';
import { microversioned } from '../microversion.ts';

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
    on: (method, path, handler, opts) => {
      for (const prefix of ['/v2.1', '/v2.1/:project']) router.on(method, `${prefix}${path}`, microversioned(handler), opts);
    },
    scoped: async (req) => {
      const caller = await s.auth.authenticate(req.header('x-auth-token'));
      if (!caller.projectId) throw new ApiError('forbidden', 'the compute API needs a project-scoped token');
      if (req.params.project && req.params.project !== caller.projectId) throw new ApiError('wrong_tenant', `your token is scoped to project ${caller.projectId}, not ${req.params.project}`);
      return { caller, tenant: s.tenants.ensure(caller.projectId, caller.projectName ?? caller.projectId) };
    },
    url,
    links: (path) => [{ rel: 'self', href: url(path) }, { rel: 'bookmark', href: url(path) }],
  };
}
