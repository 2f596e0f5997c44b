// The version documents: GET / (every version) and GET /v2.1 (this one, with its microversion range).
import { reply, type Router } from '../../../shared/http-router.ts';
import { COMPUTE_VERSIONS, microversioned } from '../microversion.ts';
import type { ComputeApi } from './context.ts';

export function versionRoutes(router: Router, api: ComputeApi): void {
  const version = {
    id: 'v2.1', status: 'CURRENT', version: COMPUTE_VERSIONS.max, min_version: COMPUTE_VERSIONS.min, updated: '2013-07-23T11:33:21Z',
    links: [{ rel: 'self', href: api.url('/') }], 'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
  };
  // The version document is not versioned itself; every route under it is (controller/http/microversion.ts).
  router.on('GET', '/', async () => reply(200, { versions: [version] }));
  router.on('GET', '/v2.1', microversioned(async () => reply(200, { version })));
}
