declare module 'dynalite' {
  import type { Server } from 'node:http';

  interface DynaliteOptions {
    verbose?: boolean;
    debug?: boolean;
    ssl?: boolean;
    /** Milliseconds a table stays CREATING / DELETING / UPDATING (default 500). */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    maxItemSizeKb?: number;
    /** A LevelDB directory; in memory when absent. */
    path?: string;
  }

  /** An in-memory DynamoDB API server; call `listen` to start it. */
  function dynalite(options?: DynaliteOptions): Server;
  export = dynalite;
}
