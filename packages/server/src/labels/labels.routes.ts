import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { conflict, invalid, notFound } from '@flotilla/core';
import type { LabelWithCount } from '@flotilla/db';
import { Host, IdParams, PageQuery } from '@flotilla/api';
import type { AppContext } from '../context.js';
import { iso } from '../http/format.js';
import type { HostService } from '../hosts/hosts.service.js';
import { checkSql } from '../queries/sql-check.js';
import type { LabelQuerySource } from './label-queries.js';

const LabelBody = {
  name: Type.String({ minLength: 1, maxLength: 255 }),
  description: Type.Optional(Type.String({ maxLength: 10_000 })),
  query: Type.Optional(Type.String({ minLength: 1, maxLength: 100_000 })),
  platform: Type.Optional(Type.String({ maxLength: 64 })),
  /** Manual labels: host ids, or identifiers (hostname, UUID, serial). */
  host_ids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 100_000 })),
  hosts: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 100_000 }),
  ),
};

/** Labels: built-in, dynamic (SQL) and manual (host lists), and the hosts in each. */
export function registerLabelRoutes(
  app: FastifyInstance,
  ctx: AppContext,
  source: LabelQuerySource,
  hosts: HostService,
  hide: boolean,
): void {
  const tags = ['labels'];
  const toApi = (l: LabelWithCount) => ({
    id: l.id,
    name: l.name,
    description: l.description,
    query: l.query,
    platform: l.platform,
    label_type: l.label_type,
    label_membership_type: l.label_membership_type,
    host_count: l.host_count,
    display_text: l.name,
    count: l.host_count,
    created_at: iso(l.created_at),
    updated_at: iso(l.updated_at),
  });
  const get = async (id: number) => {
    const l = await ctx.ds.labels.get(id);
    if (!l) throw notFound('label', 'LABEL_NOT_FOUND');
    return l;
  };
  const resolveHosts = async (
    ids: number[] | undefined,
    identifiers: string[] | undefined,
  ): Promise<number[]> => {
    const out = new Set(ids ?? []);
    for (const ident of identifiers ?? []) {
      const h = await ctx.ds.db
        .selectFrom('hosts')
        .select('id')
        .where((eb) =>
          eb.or([
            eb('hostname', '=', ident),
            eb('uuid', '=', ident),
            eb('hardware_serial', '=', ident),
            eb('osquery_host_id', '=', ident),
          ]),
        )
        .executeTakeFirst();
      if (!h)
        throw invalid('Validation Failed', [
          { name: 'hosts', reason: `no host matches "${ident}"` },
        ]);
      out.add(h.id);
    }
    if (ids?.length) {
      const found = await ctx.ds.hosts.idsNodeKeyHashes([...out]);
      if (found.length !== out.size)
        throw invalid('Validation Failed', [{ name: 'host_ids', reason: 'unknown host id' }]);
    }
    return [...out];
  };

  app.get(
    '/labels',
    { schema: { hide, tags, summary: 'List labels with host counts' } },
    async (req) => {
      req.authorize('read', { type: 'label', teamId: null });
      return { labels: (await ctx.ds.labels.list()).map(toApi) };
    },
  );

  app.get(
    '/labels/summary',
    { schema: { hide, tags, summary: 'Label names and types' } },
    async (req) => {
      req.authorize('read', { type: 'label', teamId: null });
      return {
        labels: (await ctx.ds.labels.list()).map((l) => ({
          id: l.id,
          name: l.name,
          description: l.description,
          label_type: l.label_type,
        })),
      };
    },
  );

  app.get(
    '/labels/:id',
    { schema: { hide, tags, summary: 'Get a label', params: IdParams } },
    async (req) => {
      req.authorize('read', { type: 'label', teamId: null });
      return { label: toApi(await get((req.params as { id: number }).id)) };
    },
  );

  app.post(
    '/labels',
    {
      schema: {
        hide,
        tags,
        summary: 'Create a dynamic (query) or manual (host list) label',
        body: Type.Object(LabelBody, { additionalProperties: false }),
      },
    },
    async (req) => {
      const actor = req.authorize('write', { type: 'label', teamId: null });
      const b = req.body as {
        name: string;
        description?: string;
        query?: string;
        platform?: string;
        host_ids?: number[];
        hosts?: string[];
      };
      const manual = b.host_ids !== undefined || b.hosts !== undefined;
      if (manual && b.query)
        throw invalid('a label has either a query (dynamic) or hosts (manual), not both', [
          { name: 'query', reason: 'not allowed with hosts' },
        ]);
      if (!manual && !b.query)
        throw invalid('a dynamic label needs a query', [{ name: 'query', reason: 'required' }]);
      if (b.query) checkSql(b.query);
      if (await ctx.ds.labels.getByName(b.name))
        throw conflict(`a label named "${b.name}" already exists`, 'LABEL_NAME_TAKEN');
      const hostIds = manual ? await resolveHosts(b.host_ids, b.hosts) : [];
      const now = ctx.clock();
      const id = await ctx.ds.labels.create({
        name: b.name,
        description: b.description ?? '',
        query: b.query ?? '',
        platform: b.platform ?? '',
        membershipType: manual ? 'manual' : 'dynamic',
        authorId: actor.id,
        nowMs: now,
      });
      if (manual) await ctx.ds.labels.setHosts(id, hostIds, now);
      else source.changed();
      await ctx.activities.record(actor, 'created_label', { label_id: id, label_name: b.name });
      return { label: toApi(await get(id)) };
    },
  );

  app.patch(
    '/labels/:id',
    {
      schema: {
        hide,
        tags,
        summary: "Rename a label, or replace a manual label's hosts",
        params: IdParams,
        body: Type.Partial(Type.Object(LabelBody, { additionalProperties: false })),
      },
    },
    async (req) => {
      const actor = req.authorize('write', { type: 'label', teamId: null });
      const l = await get((req.params as { id: number }).id);
      if (l.label_type === 'builtin')
        throw invalid('built-in labels cannot be changed', [], 'LABEL_BUILTIN');
      const b = req.body as {
        name?: string;
        description?: string;
        query?: string;
        platform?: string;
        host_ids?: number[];
        hosts?: string[];
      };
      if (b.query !== undefined) {
        if (l.label_membership_type === 'manual')
          throw invalid('a manual label has no query', [{ name: 'query', reason: 'not allowed' }]);
        checkSql(b.query);
      }
      if ((b.host_ids || b.hosts) && l.label_membership_type !== 'manual')
        throw invalid('only manual labels take hosts', [{ name: 'hosts', reason: 'not allowed' }]);
      if (b.name && b.name !== l.name && (await ctx.ds.labels.getByName(b.name)))
        throw conflict(`a label named "${b.name}" already exists`, 'LABEL_NAME_TAKEN');
      const now = ctx.clock();
      const set: { name?: string; description?: string; query?: string; platform?: string } = {};
      if (b.name !== undefined) set.name = b.name;
      if (b.description !== undefined) set.description = b.description;
      if (b.query !== undefined) set.query = b.query;
      if (b.platform !== undefined) set.platform = b.platform;
      await ctx.ds.labels.update(l.id, set, now);
      if (b.host_ids || b.hosts)
        await ctx.ds.labels.setHosts(l.id, await resolveHosts(b.host_ids, b.hosts), now);
      if (b.query !== undefined || b.platform !== undefined) source.changed();
      await ctx.activities.record(actor, 'edited_label', {
        label_id: l.id,
        label_name: b.name ?? l.name,
      });
      return { label: toApi(await get(l.id)) };
    },
  );

  app.delete(
    '/labels/id/:id',
    { schema: { hide, tags, summary: 'Delete a label', params: IdParams } },
    async (req) => {
      const actor = req.authorize('write', { type: 'label', teamId: null });
      const l = await get((req.params as { id: number }).id);
      if (l.label_type === 'builtin')
        throw invalid('built-in labels cannot be deleted', [], 'LABEL_BUILTIN');
      await ctx.ds.labels.delete(l.id);
      source.changed();
      await ctx.activities.record(actor, 'deleted_label', { label_id: l.id, label_name: l.name });
      return {};
    },
  );

  app.get(
    '/labels/:id/hosts',
    {
      schema: {
        hide,
        tags,
        summary: 'Hosts in a label',
        params: IdParams,
        querystring: Type.Object({
          ...PageQuery,
          order_key: Type.Optional(Type.String({ maxLength: 64 })),
          query: Type.Optional(Type.String({ maxLength: 255 })),
          team_id: Type.Optional(Type.Integer({ minimum: 0 })),
        }),
        response: { 200: Type.Object({ hosts: Type.Array(Host) }) },
      },
    },
    async (req) => {
      const actor = req.authorize('read', { type: 'host' });
      const l = await get((req.params as { id: number }).id);
      return { hosts: await hosts.list(actor, { ...(req.query as object), label_id: l.id }) };
    },
  );
}
