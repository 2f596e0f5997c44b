// /v3/projects: Keystone's projects with enabled, tags, parents and is_domain (a domain seen as a
// project), and /v3/projects/{id}/tags. Listing all projects is for admins; a member reads their own.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { reply, type Request, type Router } from '../../../shared/http-router.ts';
import { Uuid } from '../../../shared/safe-path.ts';
import type { Project } from '../config.ts';
import { conflict, flag, forbidden, Name, notFound, parse, type Helpers, type IdentityContext } from '../context.ts';
import type { Views } from '../views.ts';
import type { DomainStore } from './domains.ts';

// Keystone's tag rule: 1–255 characters, no "/" or ",", at most 80 on a project.
const Tag = z.string().min(1).max(255).regex(/^[^/,]+$/, 'a tag holds no "/" or ","');
const Tags = z.array(Tag).max(80).transform((t) => [...new Set(t)]);
const Description = z.string().max(65535);
const NewProject = z.object({
  project: z.object({
    name: Name, id: Uuid.nullish(), domain_id: z.string().nullish(), parent_id: z.string().nullish(), description: Description.nullish(),
    enabled: z.boolean().optional(), is_domain: z.boolean().optional(), tags: Tags.optional(),
  }),
});
const ProjectPatch = z.object({
  project: z.object({ name: Name.optional(), description: Description.nullish(), enabled: z.boolean().optional(), tags: Tags.optional() }),
});
const TagList = z.object({ tags: Tags });

export function addProjectRoutes(router: Router, ctx: IdentityContext, h: Helpers, v: Views, domains: DomainStore) {
  const { config } = ctx;
  const { changed } = h;
  /** A project the caller may read: an admin any, a member theirs. Someone else's is "not found":
   *  its existence is not the caller's business. */
  const readable = (req: Request) => {
    const c = h.caller(req);
    const p = h.projectById(req.params.id);
    if (!c.isAdmin && !h.projectsOf(c.user).includes(p)) throw notFound('project', req.params.id);
    return p;
  };

  router.on('GET', '/v3/projects', async (req) => {
    h.adminCaller(req);
    const q = (k: string) => req.query.get(k);
    if (flag(q('is_domain'))) return h.list('projects', h.enabledFilter(req, h.named(req, config.domains)).map(v.domainProjectView), req);
    const projects = h.enabledFilter(req, h.named(req, config.projects))
      .filter((p) => (q('domain_id') === null || p.domain_id === q('domain_id')) && (q('parent_id') === null || (p.parent_id ?? p.domain_id) === q('parent_id')))
      .filter((p) => q('tags') === null || q('tags')!.split(',').every((t) => p.tags.includes(t)));
    return h.list('projects', projects.map(v.projectView), req);
  });
  router.on('GET', '/v3/projects/:id', async (req) => {
    const domain = config.domains.find((d) => d.id === req.params.id);
    if (domain) return (h.adminCaller(req), reply(200, { project: v.domainProjectView(domain) }));
    return reply(200, { project: v.projectView(readable(req)) });
  });
  router.on('POST', '/v3/projects', async (req) => {
    h.adminCaller(req);
    const { project: p } = parse(NewProject, await req.jsonValue());
    if (p.is_domain) {
      const domain = domains.create({ id: p.id ?? undefined, name: p.name, description: p.description ?? '', enabled: p.enabled ?? true });
      return reply(201, { project: v.domainProjectView(domain) });
    }
    const parent = p.parent_id ? config.projects.find((x) => x.id === p.parent_id) : undefined;
    if (p.parent_id && !parent && !config.domains.some((d) => d.id === p.parent_id)) throw notFound('project', p.parent_id);
    // Under a parent project, the project is in the parent's domain.
    const domainId = h.existingDomain(p.domain_id ?? parent?.domain_id ?? (p.parent_id && !parent ? p.parent_id : undefined));
    if (parent && parent.domain_id !== domainId) throw forbidden(`Project ${parent.name} is in domain ${parent.domain_id}, not ${domainId}.`);
    if (config.projects.some((x) => x.id === p.id || (x.name === p.name && x.domain_id === domainId))) throw conflict(`project ${p.name}`);
    const project: Project = {
      id: p.id ?? randomUUID(), name: p.name, domain_id: domainId, description: p.description ?? '', enabled: p.enabled ?? true,
      tags: p.tags ?? [], ...(parent && { parent_id: parent.id }),
    };
    config.projects.push(project);
    changed('project created', project);
    return reply(201, { project: v.projectView(project) });
  });
  router.on('PATCH', '/v3/projects/:id', async (req) => {
    h.adminCaller(req);
    const patch = parse(ProjectPatch, await req.jsonValue()).project;
    const domain = config.domains.find((d) => d.id === req.params.id);
    if (domain) return reply(200, { project: v.domainProjectView(domains.update(domain, { ...patch, description: patch.description ?? undefined })) });
    const project = h.projectById(req.params.id);
    if (patch.name && patch.name !== project.name && config.projects.some((x) => x.name === patch.name && x.domain_id === project.domain_id)) {
      throw conflict(`project ${patch.name}`);
    }
    Object.assign(project, { ...patch, description: patch.description ?? project.description });
    changed('project updated', project);
    return reply(200, { project: v.projectView(project) });
  });
  router.on('DELETE', '/v3/projects/:id', async (req) => {
    h.adminCaller(req);
    const domain = config.domains.find((d) => d.id === req.params.id);
    if (domain) return (domains.remove(domain), reply(204));
    const project = h.projectById(req.params.id);
    if (config.projects.some((p) => p.parent_id === project.id)) throw forbidden(`Project ${project.name} has child projects: delete them first.`);
    config.projects.splice(config.projects.indexOf(project), 1);
    for (const a of [...config.users, ...config.groups]) a.roles = a.roles.filter((r) => r.project_id !== project.id);
    config.application_credentials = config.application_credentials.filter((a) => a.project_id !== project.id);
    config.trusts = config.trusts.filter((t) => t.project_id !== project.id);
    changed('project deleted', project);
    return reply(204);
  });

  // --- tags: members read their project's, admins change them ---
  const params = { tag: Tag };
  router.on('GET', '/v3/projects/:id/tags', async (req) => reply(200, { tags: readable(req).tags }));
  router.on('GET', '/v3/projects/:id/tags/:tag', async (req) => {
    if (!readable(req).tags.includes(req.params.tag)) throw notFound('tag', req.params.tag);
    return reply(204);
  }, { params });
  router.on('PUT', '/v3/projects/:id/tags', async (req) => {
    h.adminCaller(req);
    const project = h.projectById(req.params.id);
    project.tags = parse(TagList, await req.jsonValue()).tags;
    changed('project tags set', project);
    return reply(200, { tags: project.tags });
  });
  router.on('PUT', '/v3/projects/:id/tags/:tag', async (req) => {
    h.adminCaller(req);
    const project = h.projectById(req.params.id);
    if (!project.tags.includes(req.params.tag)) {
      project.tags = parse(Tags, [...project.tags, req.params.tag]);
      changed('project tag added', project);
    }
    return reply(201, undefined, { location: `${ctx.baseUrl()}/v3/projects/${project.id}/tags/${encodeURIComponent(req.params.tag)}` });
  }, { params });
  router.on('DELETE', '/v3/projects/:id/tags', async (req) => {
    h.adminCaller(req);
    const project = h.projectById(req.params.id);
    project.tags = [];
    changed('project tags cleared', project);
    return reply(204);
  });
  router.on('DELETE', '/v3/projects/:id/tags/:tag', async (req) => {
    h.adminCaller(req);
    const project = h.projectById(req.params.id);
    if (!project.tags.includes(req.params.tag)) throw notFound('tag', req.params.tag);
    project.tags = project.tags.filter((t) => t !== req.params.tag);
    changed('project tag removed', project);
    return reply(204);
  }, { params });
}
