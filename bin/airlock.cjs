#!/usr/bin/env node
// `npx airlock <command>`: the operator's incident-response CLI (lambdas/ops/cli.ts), run
// from its TypeScript source through tsx, as `npm start` runs the local gateway.
require('tsx/cjs/api').register();
require('../lambdas/ops/cli.ts').main();
