import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CheckinService } from '../osquery/checkin.service.js';
import type { LogPipeline } from './pipeline.js';

/**
 * Prometheus metrics, read at scrape time from counters the hot paths already keep (so a
 * check-in pays nothing for being measured).
 */
export function buildMetrics(checkin: CheckinService, pipeline: LogPipeline): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'flotilla_process_' });
  new Counter({
    name: 'flotilla_osquery_requests_total',
    help: 'osquery agent requests by endpoint',
    labelNames: ['endpoint'],
    registers: [registry],
    collect() {
      this.reset();
      const c = checkin.counters;
      this.inc({ endpoint: 'enroll' }, c.enrolls);
      this.inc({ endpoint: 'config' }, c.configs);
      this.inc({ endpoint: 'distributed_read' }, c.reads);
      this.inc({ endpoint: 'distributed_write' }, c.writes);
      this.inc({ endpoint: 'log' }, c.logs);
      this.inc({ endpoint: 'node_invalid' }, c.invalid);
    },
  });
  new Counter({
    name: 'flotilla_enrolls_shed_total',
    help: 'Enrolls refused (503) while the server caught up, for the agents to retry',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(checkin.enrollGate.shed);
    },
  });
  new Counter({
    name: 'flotilla_enrolls_queued_total',
    help: 'Enrolls that waited for a host ahead to finish its first inventory',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(checkin.enrollGate.queued);
    },
  });
  new Gauge({
    name: 'flotilla_enrolls_in_flight',
    help: 'Hosts enrolled and not yet inventoried, with enrolls being served',
    registers: [registry],
    collect() {
      this.set(checkin.enrollGate.inFlight);
    },
  });
  new Gauge({
    name: 'flotilla_hosts_cached',
    help: 'Hosts held in the check-in cache',
    registers: [registry],
    collect() {
      this.set(checkin.cache.size);
    },
  });
  new Counter({
    name: 'flotilla_log_lines_total',
    help: 'Log lines accepted durably, by log type',
    labelNames: ['log_type'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [t, n] of Object.entries(pipeline.counters.accepted)) this.inc({ log_type: t }, n);
    },
  });
  new Counter({
    name: 'flotilla_log_lines_rejected_total',
    help: 'Log entries skipped, by reason (malformed, oversized, wrong_type) or not matched to a query (unknown_query)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      const c = pipeline.counters;
      for (const reason of ['malformed', 'oversized', 'wrong_type', 'unknown_query'] as const)
        this.inc({ reason }, c[reason]);
    },
  });
  const byDest = (
    name: string,
    help: string,
    pick: (s: ReturnType<LogPipeline['status']>[number]) => number,
    counter: boolean,
  ) => {
    const opts = {
      name,
      help,
      labelNames: ['log_type', 'destination'] as const,
      registers: [registry],
    };
    if (counter) {
      new Counter({
        ...opts,
        collect() {
          this.reset();
          for (const s of pipeline.status())
            this.inc({ log_type: s.log_type, destination: s.destination }, pick(s));
        },
      });
    } else {
      new Gauge({
        ...opts,
        collect() {
          this.reset();
          for (const s of pipeline.status())
            this.set({ log_type: s.log_type, destination: s.destination }, pick(s));
        },
      });
    }
  };
  byDest(
    'flotilla_log_delivered_lines_total',
    'Log lines delivered, by destination',
    (s) => s.delivered_lines,
    true,
  );
  byDest(
    'flotilla_log_delivery_errors_total',
    'Failed delivery attempts, by destination',
    (s) => s.errors,
    true,
  );
  byDest(
    'flotilla_log_backlog_bytes',
    'Bytes waiting in the write-ahead log, by destination',
    (s) => s.backlog_bytes,
    false,
  );
  byDest(
    'flotilla_log_lag_seconds',
    'Seconds since the destination was last caught up',
    (s) => s.lag_seconds,
    false,
  );
  return registry;
}
