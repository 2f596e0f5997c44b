// What every Compute v2.1 route module shares: the caller with its project (a compute request needs
// a project-scoped token, and a /v2.1/{project} path must name that project), and registration of
// a route under both prefixes, microversioned (controller/http/microversion.ts).
import { ApiError } from '../../shared/errors.ts';
import type { Tenant } from '../api-types.ts';
import type { Caller } from '../auth.ts';
import type { Services } from '../services.ts';
import type { Handler, Request, RouteOptions, Router } from '../../shared/http-router.ts';
import { microversioned, requestedVersion } from './microversion.ts';

export interface ComputeCaller {
  caller: Caller;
  tenant: Tenant;
}

export async function computeCaller(s: Services, req: Request): Promise<ComputeCaller> {
  const caller = await s.auth.authenticate(req.header('x-auth-token'), req);
  if (!caller.projectId) throw new ApiError('forbidden', 'the compute API needs a project-scoped token');
  if (req.params.project && req.params.project !== caller.projectId) throw new ApiError('wrong_tenant', `your token is scoped to project ${caller.projectId}, not ${req.params.project}`);
  return { caller, tenant: s.tenants.ensure(caller.projectId, caller.projectName ?? caller.projectId) };
}

/** Registers `path` (relative to the API root, "/os-keypairs") under /v2.1 and /v2.1/{project}. */
export const computeRoute = (router: Router) => (method: string, path: string, handler: Handler, opts?: RouteOptions) => {
  for (const prefix of ['/v2.1', '/v2.1/:project']) router.on(method, `${prefix}${path}`, microversioned(handler), opts);
};

/** Whether the request's microversion is at least `v` ("X.Y"). */
export function atLeast(req: Request, v: string): boolean {
  const [a, b] = [requestedVersion(req), v].map((x) => x.split('.').map(Number));
  return (a[0] - b[0] || a[1] - b[1]) >= 0;
}
