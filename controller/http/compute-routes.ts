// The OpenStack Compute v2.1 subset (docs/api.md): a workload is a flavor, an instance a server,
// so standard OpenStack clients can list, create, start, stop and delete instances. Each resource
// has its module under compute/.
import type { Router } from '../../shared/http-router.ts';
import type { Services } from '../services.ts';
import { computeApi } from './compute/context.ts';
import { flavorAccessRoutes } from './compute/flavor-access.ts';
import { flavorAdminRoutes } from './compute/flavor-admin.ts';
import { flavorExtraSpecRoutes } from './compute/flavor-extra-specs.ts';
import { flavorRoutes } from './compute/flavors.ts';
import { instanceActionRoutes } from './compute/instance-actions.ts';
import { serverActionRoutes } from './compute/server-actions.ts';
import { serverMetadataRoutes } from './compute/server-metadata.ts';
import { serverRoutes } from './compute/servers.ts';
import { serverTagRoutes } from './compute/server-tags.ts';
import { versionRoutes } from './compute/versions.ts';

export function computeRoutes(router: Router, s: Services, baseUrl: () => string): void {
  const api = computeApi(router, s, baseUrl);
  versionRoutes(router, api);
  flavorRoutes(api);
  flavorAdminRoutes(api);
  flavorExtraSpecRoutes(api);
  flavorAccessRoutes(api);
  serverRoutes(api);
  serverMetadataRoutes(api);
  serverTagRoutes(api);
  serverActionRoutes(api);
  instanceActionRoutes(api);
}
