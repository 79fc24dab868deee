import { type App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { AirlockStack } from './airlock-stack';
import { configFromContext } from './config';

/**
 * Everything `bin/app.ts` does to an App, in one function the tests call too, so what they
 * check is exactly what `cdk deploy` deploys: the configuration parsed once from context, one
 * stack per stage (`CrmAirlock-<stage>`, so `dev` and `prod` can share an account), tags, and
 * the cdk-nag packs.
 */
export function defineAirlockApp(app: App): AirlockStack {
  const config = configFromContext(app.node);

  const stack = new AirlockStack(app, `CrmAirlock-${config.stage}`, {
    config,
    description: `CRM Airlock (${config.stage}): secure gateway between an AI agent and HubSpot CRM`,
    // Environment-agnostic: deploys to the account and region of the CLI's credentials, and
    // `cdk synth` needs no AWS access.
    terminationProtection: config.stage === 'prod',
  });

  Tags.of(app).add('project', 'crm-airlock');
  Tags.of(app).add('stage', config.stage);

  // cdk-nag v3: the packs run as policy-validation plugins during synthesis; any finding not
  // acknowledged (on the narrowest construct, with a reason) fails `cdk synth` and `cdk deploy`.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));

  return stack;
}
