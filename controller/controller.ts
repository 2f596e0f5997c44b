// The controller daemon: HTTPS API (ciao, Compute v2.1, Image v2) over the services, and the
// protocol link to the scheduler as the `controller` role.
import type http from 'node:http';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { ProtocolPeer } from '../protocol/client.ts';
import type { Logger } from '../shared/log.ts';
import type { TokenCheck } from './auth.ts';
import { TokenCache } from './auth.ts';
import type { Datastore } from './datastore/datastore.ts';
import { Services } from './services.ts';
import { sendAfterCommit } from './after-commit.ts';
import { createApiServer, Router } from '../shared/http-router.ts';
import { PARAMS } from './http/request-schemas.ts';
import { ciaoRoutes } from './http/ciao-routes.ts';
import { nodeMaintenanceRoutes } from './http/node-maintenance-routes.ts';
import { computeRoutes } from './http/compute-routes.ts';
import { imageRoutes } from './http/image-routes.ts';
import { keypairRoutes } from './http/keypair-routes.ts';
import { serverGroupRoutes } from './http/server-group-routes.ts';
import { limitsRoutes } from './http/limits-routes.ts';
import { volumeRoutes } from './http/volume-routes.ts';
import { volumeAttachmentRoutes } from './http/volume-attachment-routes.ts';
import { advertisedHost } from '../shared/listen-address.ts';
import { SCHEDULER_WAIT_MS } from './context.ts';
import type { AdmissionLimits } from './create-admission.ts';

export interface ControllerOptions {
  store: Datastore;
  tokenCheck: TokenCheck;
  imageDir: string;
  /** The volume store (docs/api.md, "Volumes"). */
  volumeDir: string;
  logger: Logger;
  /** HTTPS key pair; plain HTTP when absent (unit tests only). */
  tls?: { cert: Buffer; key: Buffer };
  scheduler?: { host: string; port: number; tls: { ca: Buffer; cert: Buffer; key: Buffer } };
  /** The cluster has a way out (setup --egress; docs/egress.md, "Per tenant"). */
  egress?: boolean;
  /** When creates are shed with 503 (docs/api.md "Busy"); the defaults otherwise. */
  admission?: Partial<AdmissionLimits>;
  /** How long a change waits for a link to the scheduler that is down (SCHEDULER_WAIT_MS). */
  schedulerWaitMs?: number;
}

/** The controller's API: the ciao API, Compute v2.1 and Image v2 over the services.
 *  `schedulerLink`: undefined while the controller is linked to the scheduler, else when it is again. */
export function controllerRouter(services: Services, baseUrl: () => string, schedulerLink: () => Promise<unknown> | undefined = () => undefined, schedulerWaitMs = SCHEDULER_WAIT_MS): Router {
  const router = new Router({
    params: PARAMS, service: 'controller',
    // An answer that may report a change waits until the change is saved (docs/durability.md).
    saved: () => services.store.committed(),
    // A change waits a moment for a scheduler that is away (docs/api.md, "The scheduler away").
    ready: schedulerLink, readyWaitMs: schedulerWaitMs,
  });
  ciaoRoutes(router, services);
  nodeMaintenanceRoutes(router, services);
  computeRoutes(router, services, baseUrl);
  keypairRoutes(router, services, baseUrl);
  serverGroupRoutes(router, services);
  limitsRoutes(router, services);
  imageRoutes(router, services, baseUrl);
  volumeRoutes(router, services, baseUrl);
  volumeAttachmentRoutes(router, services);
  return router;
}

export class Controller {
  readonly services: Services;
  private readonly server: http.Server;
  private readonly peer?: ProtocolPeer;
  private url = '';
  /** While the link to the scheduler is down: when it is up again (and what was said again is sent). */
  private linkBack?: { promise: Promise<void>; resolve: () => void };

  constructor(private readonly opts: ControllerOptions) {
    const peer = opts.scheduler && new ProtocolPeer({
      id: 'controller', roles: ['controller'], logger: opts.logger, ...opts.scheduler,
    });
    this.peer = peer;
    // What is sent reports changes: it leaves once they are saved (docs/durability.md).
    const send = sendAfterCommit(opts.store, () => peer?.isConnected ?? false, (f) => peer?.send(f) ?? false);
    this.services = new Services(opts.store, new TokenCache(opts.tokenCheck), send, { imageDir: opts.imageDir, volumeDir: opts.volumeDir, egress: opts.egress, admission: opts.admission }, opts.logger);
    peer?.on('frame', (f) => this.services.onFrame(f));
    let schedulerBoot: string | undefined;
    peer?.on('connected', (hello) => {
      opts.logger.info('connected to the scheduler');
      // First: a (restarted) scheduler knows the cordoned nodes before any START (docs/protocol.md, "Maintenance").
      this.services.maintenance.announce();
      // Before the STARTs sent again: which nodes a scheduler just started waits for.
      this.services.maintenance.expect();
      // What it placed that may not be saved; STARTs another scheduler than the last took with it.
      this.services.schedulerConnected(hello, hello.boot === schedulerBoot);
      schedulerBoot = hello.boot;
      this.services.instances.dispatchWaiting();
      this.services.volumes.resend();
      this.services.instances.resizes.resend();
      // Last: the requests that waited for the link run after what the controller says again.
      this.linkBack?.resolve();
      this.linkBack = undefined;
    });
    const router = controllerRouter(this.services, () => this.url, () => (!peer || peer.isConnected ? undefined : this.linkedAgain()), opts.schedulerWaitMs);
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void router.handle(req, res, opts.logger);
    this.server = createApiServer(handler, opts.tls);
  }

  /** Listens at `host`:`port`, or on the socket `fd` bound there already (its keeper's). */
  async listen(port: number, host = '127.0.0.1', fd?: number): Promise<string> {
    await mkdir(this.opts.imageDir, { recursive: true });
    this.server.listen(fd === undefined ? { port, host } : { fd });
    await once(this.server, 'listening');
    const addr = this.server.address() as AddressInfo;
    this.url = `${this.opts.tls ? 'https' : 'http'}://${advertisedHost(host)}:${addr.port}`;
    this.peer?.start();
    return this.url;
  }

  private linkedAgain(): Promise<void> {
    if (!this.linkBack) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.linkBack = { promise, resolve };
    }
    return this.linkBack.promise;
  }

  get schedulerConnected(): boolean {
    return this.peer?.isConnected ?? false;
  }

  async close(): Promise<void> {
    this.peer?.stop();
    this.services.instances.admission.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.opts.store.close();
  }
}
