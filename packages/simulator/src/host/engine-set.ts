import type { OsqueryPlatform } from './schema.js';
import { SqlEngine } from './sql-engine.js';

/** One SQL engine per platform, created on first use; a worker shares it across its hosts. */
export class EngineSet {
  private readonly engines = new Map<OsqueryPlatform, SqlEngine>();

  get(platform: OsqueryPlatform): SqlEngine {
    let engine = this.engines.get(platform);
    if (engine === undefined) {
      engine = new SqlEngine(platform);
      this.engines.set(platform, engine);
    }
    return engine;
  }

  close(): void {
    for (const e of this.engines.values()) e.close();
    this.engines.clear();
  }
}
