// Compute API microversions (Nova's rules): the version a request asks for, in
// `OpenStack-API-Version: compute X.Y` or the older `X-OpenStack-Nova-API-Version: X.Y` ("latest"
// is the newest), must lie in the advertised range; every answer says which version it is, so
// clients (Tempest, openstacksdk) can check the view they got is the one they asked for.
import type { ServerResponse } from 'node:http';
import { ApiError, badRequest } from '../../shared/errors.ts';
import type { Handler, Request } from '../../shared/http-router.ts';

/** The range served: every view is the 2.1 view today (docs/api.md). */
export const COMPUTE_VERSIONS = { min: '2.1', max: '2.1' };

const parse = (v: string) => v.split('.').map(Number) as [number, number];
const compare = (a: string, b: string) => {
  const [x, y] = [parse(a), parse(b)];
  return x[0] - y[0] || x[1] - y[1];
};

/** The version a request asks for (the minimum when it asks for none); throws 400 or 406. */
export function requestedVersion(req: Pick<Request, 'header'>): string {
  const modern = req.header('openstack-api-version');
  let asked: string | undefined;
  if (modern !== undefined) {
    // "compute 2.20", possibly among other services' versions: "compute 2.20, volume 3.1".
    const mine = modern.split(',').map((s) => s.trim().split(/\s+/)).find(([service]) => service?.toLowerCase() === 'compute');
    asked = mine?.[1];
  } else asked = req.header('x-openstack-nova-api-version');
  if (asked === undefined) return COMPUTE_VERSIONS.min;
  if (asked.toLowerCase() === 'latest') return COMPUTE_VERSIONS.max;
  if (!/^[1-9]\d*\.(0|[1-9]\d*)$/.test(asked)) throw badRequest(`API version ${JSON.stringify(asked.slice(0, 40))} is not of the form X.Y or "latest"`);
  if (compare(asked, COMPUTE_VERSIONS.min) < 0 || compare(asked, COMPUTE_VERSIONS.max) > 0) {
    throw new ApiError('version_not_supported', `Version ${asked} is not supported by the API. Minimum is ${COMPUTE_VERSIONS.min} and maximum is ${COMPUTE_VERSIONS.max}.`);
  }
  return asked;
}

const announce = (res: ServerResponse, version: string) => {
  res.setHeader('OpenStack-API-Version', `compute ${version}`);
  res.setHeader('X-OpenStack-Nova-API-Version', version);
  res.setHeader('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
  // Nova names the request id twice; some clients read only this one.
  res.setHeader('x-compute-request-id', String(res.getHeader('x-openstack-request-id') ?? ''));
};

/** A compute route: its version negotiated and announced, on errors too. */
export const microversioned = (handler: Handler): Handler => async (req, res) => {
  announce(res, COMPUTE_VERSIONS.min);
  const version = requestedVersion(req);
  announce(res, version);
  return handler(req, res);
};
