#!/usr/bin/env node
// `npx airlock-mcp`: CRM Airlock's tools for an MCP client (lambdas/mcp/main.ts), run from its
// TypeScript source through tsx, as bin/airlock.cjs runs the operator CLI. An MCP client starts
// it from any working directory: everything it loads is found relative to this file.
require('tsx/cjs/api').register();
require('../lambdas/mcp/main.ts').main();
