/**
 * The HubSpot-call function as it would be bundled naively: the same handler, plus the whole
 * `@hubspot/api-client` (as `import { Client } from '@hubspot/api-client'` brings in). Only
 * `npm run bench` builds it, to show what loading the client's CRM modules alone saves.
 */
import '@hubspot/api-client';

export { handler } from '../lambdas/aws/hubspot-call';
