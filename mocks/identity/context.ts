// What every route module of the identity service shares: the config it serves and saves, the
// caller checks (token, admin), Keystone's errors and list shape, and role lookups.
import { z } from 'zod';
import { ApiError, badRequest } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { reply, type Request } from '../../shared/http-router.ts';
import type { Domain, IdentityConfig, Project, Trust, User } from './config.ts';
import { effectiveAssignments } from './effective-roles.ts';
import type { TokenPayload, TokenSigner } from './tokens.ts';

export const unauthorized = (message: string) => new ApiError('invalid_token', message);
export const forbidden = (message: string) => new ApiError('forbidden', message);
export const notFound = (what: string, id: string) => new ApiError('not_found', `Could not find ${what}: ${id}.`);
export const conflict = (what: string) => new ApiError('conflict', `Conflict occurred attempting to store ${what} - Duplicate entry.`);
/** The item, or Keystone's 404 for it. */
export const found = <T>(item: T | undefined, what: string, id: string): T => {
  if (item === undefined) throw notFound(what, id);
  return item;
};

export function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw badRequest(`Invalid input: ${r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** Keystone's names: 1 to 64 characters (longer is 400, as in Keystone's schema). */
export const Name = z.string().min(1).max(64);
export const CREDENTIALS_PER_USER = 50;
/** A timestamp without a zone is UTC, as in Keystone; NaN when it is no timestamp. */
export const instant = (s: string) => Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s}Z`);
/** Keystone's reading of a boolean query flag: present and not 0/false. */
export const flag = (v: string | null) => v !== null && !['0', 'false'].includes(v.toLowerCase());

/** A token that verifies and whose user, project and roles still exist. */
export interface LiveToken {
  payload: TokenPayload;
  user: User;
  project?: Project;
}

export interface Caller extends LiveToken {
  isAdmin: boolean;
}

export interface IdentityContext {
  config: IdentityConfig;
  logger: Logger;
  signer: TokenSigner;
  /** Writes the config back (when the service has a config file). */
  save(): void;
  /** The service's own URL, known once it listens. */
  baseUrl(): string;
}

/** Lookups and checks over the context, for the route modules. */
export function helpers(ctx: IdentityContext) {
  const { config } = ctx;
  const domainOf = (id: string) => config.domains.find((d) => d.id === id) ?? { id, name: id };
  const groupsOf = (user: User) => config.groups.filter((g) => g.users.includes(user.id));
  /** The role names a user holds on a project (effective-roles.ts: groups, inheritance, implied roles). */
  const roleNames = (user: User, projectId: string) =>
    [...new Set(effectiveAssignments(config, user).filter((r) => r.project_id === projectId).map((r) => r.role))];
  const projectsOf = (user: User) => {
    const held = effectiveAssignments(config, user);
    return config.projects.filter((p) => held.some((r) => r.project_id === p.id));
  };
  const domainsOf = (user: User): Domain[] => {
    const held = effectiveAssignments(config, user);
    return config.domains.filter((d) => held.some((r) => r.domain_id === d.id));
  };

  /** Keystone's rule: a user or project is usable when it is enabled and so is its domain. */
  const domainEnabled = (id: string) => config.domains.find((d) => d.id === id)?.enabled !== false;
  const usable = (x: { enabled: boolean; domain_id: string }) => x.enabled && domainEnabled(x.domain_id);
  /** A trust that may be used now: not deleted, not expired, both its users usable (Keystone answers 404 for any other). */
  const activeTrust = (id: string, now = Date.now()): Trust | undefined => {
    const trust = config.trusts.find((t) => t.id === id);
    if (!trust || (trust.expires_at !== null && instant(trust.expires_at) <= now)) return undefined;
    const bothUsable = [trust.trustor_user_id, trust.trustee_user_id].every((id) => {
      const u = config.users.find((x) => x.id === id);
      return u && usable(u);
    });
    return bothUsable ? trust : undefined;
  };
  /** Whose roles a trust hands on: its trustor's, or for a redelegated one, the first trustor's in its chain. */
  const rolesHolder = (trust: Trust): User | undefined => {
    let root = trust;
    while (root.redelegated_trust_id !== null) {
      const parent = config.trusts.find((t) => t.id === root.redelegated_trust_id);
      if (!parent) break;
      root = parent;
    }
    return config.users.find((u) => u.id === root.trustor_user_id);
  };
  /** Like Keystone, deleting or disabling a user, project or domain, taking away a role, or deleting the trust, ends the tokens that relied on it. */
  const live = (token: string): LiveToken | null => {
    const payload = ctx.signer.verify(token);
    const user = payload && config.users.find((u) => u.id === payload.user_id);
    if (!payload || !user || !usable(user)) return null;
    if (payload.application_credential_id && !config.application_credentials.some((a) => a.id === payload.application_credential_id)) return null;
    const trust = payload.trust_id === undefined ? undefined : activeTrust(payload.trust_id);
    if (payload.trust_id !== undefined && !trust) return null;
    if (payload.project_id === null) return { payload, user };
    const project = config.projects.find((p) => p.id === payload.project_id);
    if (!project || !usable(project)) return null;
    // A trust's roles are the trustor's, whoever the token names.
    const holder = trust ? rolesHolder(trust) : user;
    const held = holder ? roleNames(holder, project.id) : [];
    return payload.roles.every((r) => held.includes(r)) ? { payload, user, project } : null;
  };

  /** The caller's token (X-Auth-Token), which must be live. */
  const caller = (req: Request): Caller => {
    const token = req.header('x-auth-token');
    if (!token) throw unauthorized('The request you have made requires authentication: send a token in X-Auth-Token.');
    const t = live(token);
    if (!t) throw unauthorized('The token in X-Auth-Token is invalid, expired or revoked: get a new one.');
    return { ...t, isAdmin: t.payload.roles.includes('admin') };
  };
  const adminCaller = (req: Request): Caller => {
    const c = caller(req);
    if (!c.isAdmin) throw forbidden('You are not authorized to perform the requested action: it needs a token with the admin role.');
    return c;
  };

  const links = (path: string) => ({ self: `${ctx.baseUrl()}/v3/${path}` });
  const list = (key: string, items: unknown[], req: Request) =>
    reply(200, { [key]: items, links: { self: `${ctx.baseUrl()}${req.path}`, next: null, previous: null } });
  /** The ?name= filter openstackclient uses to find a resource by name after GET by id fails. */
  const named = <T extends { name: string }>(req: Request, items: T[]) => {
    const name = req.query.get('name');
    return name === null ? items : items.filter((i) => i.name === name);
  };
  /** The ?enabled= filter: Keystone reads anything but 0/false as true. */
  const enabledFilter = <T extends { enabled: boolean }>(req: Request, items: T[]) => {
    const v = req.query.get('enabled');
    return v === null ? items : items.filter((i) => i.enabled === flag(v));
  };
  const existingDomain = (id: string | null | undefined) => found(config.domains.find((d) => d.id === (id ?? 'default')), 'domain', id ?? 'default').id;
  const domainById = (id: string) => found(config.domains.find((x) => x.id === id), 'domain', id);
  const projectById = (id: string) => found(config.projects.find((x) => x.id === id), 'project', id);
  const userById = (id: string) => found(config.users.find((x) => x.id === id), 'user', id);
  const roleById = (id: string) => found(config.roles.find((r) => r.id === id || r.name === id), 'role', id);
  const groupById = (id: string) => found(config.groups.find((g) => g.id === id), 'group', id);
  /** After a change: the config is written back, and the change logged (by id and name only: a user's hash stays out of the log). */
  const changed = (what: string, item: { id: string; name?: string }, fields: Record<string, unknown> = {}) => {
    ctx.save();
    ctx.logger.info(what, { id: item.id, ...(item.name !== undefined && { name: item.name }), ...fields });
  };

  /** Keystone's [credential] user_limit: credentials (EC2 ones included) a user may keep. */
  const roomForCredential = (userId: string) => {
    if (config.credentials.filter((c) => c.user_id === userId).length >= CREDENTIALS_PER_USER) {
      throw forbidden(`A user keeps at most ${CREDENTIALS_PER_USER} credentials: delete one first.`);
    }
  };

  return {
    roomForCredential,
    domainOf, groupsOf, roleNames, projectsOf, domainsOf, usable, activeTrust, rolesHolder, live, caller, adminCaller, links, list, named, enabledFilter,
    existingDomain, domainById, projectById, userById, roleById, groupById, changed,
  };
}
export type Helpers = ReturnType<typeof helpers>;
