import type { Command } from 'commander';
import WebSocket from 'ws';
import type { FlotillaClient } from '@flotilla/api';
import { clientFrom, readContext } from '../context-file.js';
import { printTable } from '../table.js';

interface QueryOpts {
  server?: string;
  ca?: string;
  token?: string;
  query?: string;
  queryName?: string;
  hosts?: string;
  labels?: string;
  excludeLabels?: string;
  teams?: string;
  json?: boolean;
  timeout: string;
  quiet?: boolean;
}

const list = (s: string | undefined) =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : [];

/** Resolves names to ids through the API, so users can write `--labels "Ubuntu Linux"`. */
async function ids(
  client: FlotillaClient,
  kind: 'hosts' | 'labels' | 'teams',
  values: string[],
): Promise<number[]> {
  const out: number[] = [];
  for (const v of values) {
    if (/^\d+$/.test(v)) {
      out.push(Number(v));
      continue;
    }
    if (kind === 'hosts') {
      const { host } = await client.getHostByIdentifier(v);
      out.push(host['id'] as number);
    } else if (kind === 'labels') {
      const { labels } = await client.request<{ labels: Array<{ id: number; name: string }> }>(
        'GET',
        '/api/v1/fleet/labels',
      );
      const l = labels.find((x) => x.name.toLowerCase() === v.toLowerCase());
      if (!l) throw new Error(`no label named "${v}"`);
      out.push(l.id);
    } else {
      const { teams } = await client.request<{ teams: Array<{ id: number; name: string }> }>(
        'GET',
        `/api/v1/fleet/teams?query=${encodeURIComponent(v)}`,
      );
      const t = teams.find((x) => x.name.toLowerCase() === v.toLowerCase());
      if (!t) throw new Error(`no team named "${v}"`);
      out.push(t.id);
    }
  }
  return out;
}

export function registerQuery(program: Command): void {
  program
    .command('query')
    .description('Ask hosts a question live and stream the answers as they arrive')
    .option('--query <sql>', 'SQL to run')
    .option('--query-name <name>', 'run a saved query by name instead')
    .option('--hosts <list>', 'host ids or identifiers (hostname, UUID, serial), comma-separated')
    .option('--labels <list>', 'label ids or names: hosts in any of them')
    .option(
      '--exclude-labels <list>',
      'label ids or names to leave out ("Ubuntu Linux" but not "staging")',
    )
    .option('--teams <list>', 'team ids or names')
    .option('--json', 'print one JSON object per result row (with host)')
    .option('--timeout <seconds>', 'stop waiting after this long', '60')
    .option('--quiet', 'no progress on stderr')
    .option('--server <url>')
    .option('--ca <file>')
    .option('--token <token>')
    .action(async (o: QueryOpts) => {
      const client = clientFrom(o);
      let queryId: number | undefined;
      if (o.queryName) {
        const { queries } = await client.request<{ queries: Array<{ id: number; name: string }> }>(
          'GET',
          `/api/v1/fleet/queries?query=${encodeURIComponent(o.queryName)}`,
        );
        queryId = queries.find((q) => q.name === o.queryName)?.id;
        if (!queryId) throw new Error(`no saved query named "${o.queryName}"`);
      } else if (!o.query) throw new Error('pass --query or --query-name');
      const selected = {
        hosts: await ids(client, 'hosts', list(o.hosts)),
        labels: await ids(client, 'labels', list(o.labels)),
        labels_exclude: await ids(client, 'labels', list(o.excludeLabels)),
        teams: await ids(client, 'teams', list(o.teams)),
      };
      const { campaign } = await client.request<{ campaign: { id: number } }>(
        'POST',
        '/api/v1/fleet/queries/run',
        { ...(queryId ? { query_id: queryId } : { query: o.query }), selected },
      );

      const saved = readContext();
      const base = new URL(o.server ?? saved?.server_url ?? '');
      const wsUrl = `${base.protocol === 'https:' ? 'wss' : 'ws'}://${base.host}/api/v1/fleet/results/websocket`;
      const caFile = o.ca ?? saved?.ca_file;
      const { readFileSync } = await import('node:fs');
      const ws = new WebSocket(wsUrl, caFile ? { ca: readFileSync(caFile) } : {});
      const rows: Array<Record<string, unknown>> = [];
      const errors: string[] = [];
      let totals = { count: 0, online: 0 };
      let responded = 0;
      const progress = () => {
        if (!o.quiet)
          process.stderr.write(
            `\rresponded ${responded} / online ${totals.online} / targeted ${totals.count}   `,
          );
      };
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => {
            ws.close();
            resolve();
          },
          Number(o.timeout) * 1000,
        );
        ws.on('open', () => {
          ws.send(JSON.stringify({ type: 'auth', data: { token: client.token } }));
          ws.send(JSON.stringify({ type: 'select_campaign', data: { campaign_id: campaign.id } }));
        });
        ws.on('error', reject);
        ws.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
        ws.on('message', (raw: Buffer) => {
          const m = JSON.parse(raw.toString()) as {
            type: string;
            data: Record<string, unknown> & {
              host?: { hostname: string };
              rows?: Array<Record<string, unknown>>;
            };
          };
          if (m.type === 'totals') totals = m.data as unknown as typeof totals;
          else if (m.type === 'result') {
            const host = m.data.host?.hostname ?? '';
            if (m.data['error']) errors.push(`${host}: ${String(m.data['error'] as string)}`);
            for (const r of m.data.rows ?? []) {
              if (o.json) console.log(JSON.stringify({ host, ...r }));
              else rows.push({ host, ...r });
            }
          } else if (m.type === 'status') {
            responded = Number(m.data['actual_results']);
            if (m.data['status'] === 'finished') ws.close();
          } else if (m.type === 'error') errors.push(String(m.data as unknown as string));
          progress();
        });
      });
      if (!o.quiet) process.stderr.write('\n');
      await client
        .request('POST', `/api/v1/fleet/campaigns/${campaign.id}/stop`)
        .catch(() => undefined);
      if (!o.json && rows.length) {
        const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
        printTable(
          cols.map((c) => c.toUpperCase()),
          rows.map((r) => cols.map((c) => r[c])),
        );
      }
      for (const e of errors) console.error(`error: ${e}`);
      client.close();
    });
}
