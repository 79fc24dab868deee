#!/usr/bin/env node
/**
 * The CDK app: `npx cdk deploy`, configured by the context in cdk.json or `-c key=value`
 * (keys documented in lib/config.ts). `npm run synth` checks it offline, cdk-nag included.
 */
import { App } from 'aws-cdk-lib';
import { defineAirlockApp } from '../lib/airlock-app';
import { ConfigError } from '../lib/config';

try {
  defineAirlockApp(new App());
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  // A bad context value is the user's to fix: say which, without a stack trace.
  console.error(err.message);
  process.exit(1);
}
