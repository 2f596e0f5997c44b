// Compute API microversions (Nova's rules): the version a request asks for, in
// `OpenStack-API-Version: compute X.Y` or the older `X-OpenStack-Nova-API-Version: X.Y` ("latest"
// is the newest), must lie in the advertised range; every answer says which version it is, so
// clients (Tempest, openstacksdk) can check the view they got is the one they asked for.
import type { ServerResponse } from 'node:http';
import { ApiError, badRequest } from '../../shared/errors.ts';
import type { Handler, Request } from '../../shared/http-router.ts';

/** The range served: each view and rule changes at its version up to the maximum (docs/api.md). */
export const COMPUTE_VERSIONS = { min: '2.1', max: '2.64' };

export interface VersionRange { min: string; max: string }

const parse = (v: string) => v.split('.').map(Number) as [number, number];
const compare = (a: string, b: string) => {
  const [x, y] = [parse(a), parse(b)];
  return x[0] - y[0] || x[1] - y[1];
};

/** The version `OpenStack-API-Version` asks of one service: "compute 2.20", possibly among other
 *  services' versions ("compute 2.20, volume 3.1"); undefined when it names none for the service. */
export function versionInHeader(header: string, service: string): string | undefined {
  return header.split(',').map((s) => s.trim().split(/\s+/)).find(([name]) => name?.toLowerCase() === service)?.[1];
}

/** The version served for what a client asked (the minimum when it asks for none); throws 400 or 406. */
export function negotiate(asked: string | undefined, range: VersionRange): string {
  if (asked === undefined) return range.min;
  if (asked.toLowerCase() === 'latest') return range.max;
  if (!/^[1-9]\d*\.(0|[1-9]\d*)$/.test(asked)) throw badRequest(`API version ${JSON.stringify(asked.slice(0, 40))} is not of the form X.Y or "latest"`);
  if (compare(asked, range.min) < 0 || compare(asked, range.max) > 0) {
    throw new ApiError('version_not_supported', `Version ${asked} is not supported by the API. Minimum is ${range.min} and maximum is ${range.max}.`);
  }
  return asked;
}

/** The version a request asks for (the minimum when it asks for none); throws 400 or 406. */
export function requestedVersion(req: Pick<Request, 'header'>): string {
  const modern = req.header('openstack-api-version');
  const asked = modern !== undefined ? versionInHeader(modern, 'compute') : req.header('x-openstack-nova-api-version');
  return negotiate(asked, COMPUTE_VERSIONS);
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
