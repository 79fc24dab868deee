/**
 * Helpers for the CDK tests: build the app exactly as `bin/app.ts` does (same function, same
 * cdk.json context and feature flags), and walk the synthesized template's IAM policies.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { defineAirlockApp } from '../../lib/airlock-app';
import type { AirlockStack } from '../../lib/airlock-stack';

export const ROOT = path.resolve(__dirname, '../..');

/** The context `npx cdk synth` starts from: cdk.json's app keys and feature flags. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

export interface Synthesized {
  app: App;
  stack: AirlockStack;
  template: Template;
  json: CfnTemplate;
}

/**
 * Synthesizes the app with cdk.json's context plus `overrides`. Asset bundling is skipped unless
 * `bundle` is set (esbuild runs in one dedicated test; assertions do not need the code).
 */
export function synthAirlock(
  overrides: Record<string, unknown> = {},
  options: { bundle?: boolean; outdir?: string } = {},
): Synthesized {
  const context: Record<string, unknown> = { ...cdkJsonContext(), ...overrides };
  if (!options.bundle) context['aws:cdk:bundling-stacks'] = [];
  const app = new App({ context, ...(options.outdir ? { outdir: options.outdir } : {}) });
  const stack = defineAirlockApp(app);
  const template = Template.fromStack(stack);
  return { app, stack, template, json: template.toJSON() as CfnTemplate };
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
}

export interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: unknown;
  Principal?: unknown;
  Condition?: Record<string, unknown>;
}

/** A policy document found in the template, with where it came from and whom it applies to. */
export interface FoundPolicy {
  /** Logical id of the resource holding the document. */
  logicalId: string;
  kind: 'identity' | 'trust' | 'resource';
  /** Logical ids of the roles the document is attached to (identity policies). */
  roles: string[];
  statements: Statement[];
}

export const asArray = <T>(v: T | T[] | undefined): T[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

export const actionsOf = (s: Statement): string[] => asArray(s.Action);

const refsIn = (value: unknown): string[] =>
  asArray(value as unknown[]).flatMap((r) =>
    r && typeof r === 'object' && 'Ref' in r ? [String((r as { Ref: unknown }).Ref)] : [],
  );

/** Every policy document in the template: identity (inline, managed, default), trust, resource. */
export function allPolicies(json: CfnTemplate): FoundPolicy[] {
  const found: FoundPolicy[] = [];
  for (const [logicalId, r] of Object.entries(json.Resources)) {
    const p = r.Properties ?? {};
    const doc = (d: unknown) => asArray((d as { Statement?: Statement[] } | undefined)?.Statement);
    switch (r.Type) {
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::ManagedPolicy':
        found.push({
          logicalId,
          kind: 'identity',
          roles: refsIn(p.Roles),
          statements: doc(p.PolicyDocument),
        });
        break;
      case 'AWS::IAM::Role':
        found.push({
          logicalId,
          kind: 'trust',
          roles: [logicalId],
          statements: doc(p.AssumeRolePolicyDocument),
        });
        for (const inline of asArray(p.Policies as { PolicyDocument: unknown }[])) {
          found.push({
            logicalId,
            kind: 'identity',
            roles: [logicalId],
            statements: doc(inline.PolicyDocument),
          });
        }
        break;
      case 'AWS::S3::BucketPolicy':
      case 'AWS::SecretsManager::ResourcePolicy':
      case 'AWS::Lambda::Permission':
      case 'AWS::SNS::TopicPolicy':
        if (p.PolicyDocument ?? p.ResourcePolicy) {
          found.push({
            logicalId,
            kind: 'resource',
            roles: [],
            statements: doc(p.PolicyDocument ?? p.ResourcePolicy),
          });
        }
        break;
      default:
        if (JSON.stringify(p).includes('"Statement"') && r.Type !== 'AWS::ApiGateway::RestApi') {
          throw new Error(
            `unexpected policy holder ${logicalId} (${r.Type}): teach allPolicies it`,
          );
        }
    }
  }
  return found;
}

/** The identity policies that apply to one role (inline, default, customer-managed). */
export function policiesOfRole(json: CfnTemplate, roleLogicalId: string): FoundPolicy[] {
  return allPolicies(json).filter((p) => p.kind === 'identity' && p.roles.includes(roleLogicalId));
}

/** Logical id of the one resource of `type` whose logical id starts with `prefix`. */
export function logicalIdOf(json: CfnTemplate, type: string, prefix: string): string {
  const ids = Object.entries(json.Resources)
    .filter(([id, r]) => r.Type === type && id.startsWith(prefix))
    .map(([id]) => id);
  if (ids.length !== 1)
    throw new Error(`expected one ${type} named ${prefix}*, found ${ids.join(', ')}`);
  return ids[0] as string;
}

/** Whether an IAM action pattern (with `*`/`?` wildcards, case-insensitive) covers `action`. */
export function actionCovers(pattern: string, action: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
    'i',
  );
  return re.test(action);
}

/** Every logical id referenced (Ref or Fn::GetAtt) anywhere inside a value; not `AWS::` pseudo
 * parameters. */
export function referencedIds(value: unknown): Set<string> {
  const ids = new Set<string>();
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'Ref' && typeof x === 'string') {
          if (!x.startsWith('AWS::')) ids.add(x);
        } else if (k === 'Fn::GetAtt' && Array.isArray(x)) ids.add(String(x[0]));
        else walk(x);
      }
    }
  };
  walk(value);
  return ids;
}

/**
 * A role's grants other than its own logging and X-Ray (which the factory test pins), one entry
 * per statement, actions sorted. Every one must be an unconditional Allow.
 */
export function grantsOf(
  json: CfnTemplate,
  roleLogicalId: string,
): { Action: string[]; Resource: unknown }[] {
  return policiesOfRole(json, roleLogicalId)
    .flatMap((p) => p.statements)
    .filter(
      (s) =>
        !actionsOf(s).every(
          (a) => a === 'logs:CreateLogStream' || a === 'logs:PutLogEvents' || a.startsWith('xray:'),
        ),
    )
    .map((s) => {
      expect(s.Effect).toBe('Allow');
      expect(s.Condition).toBeUndefined();
      return { Action: actionsOf(s).sort(), Resource: s.Resource };
    });
}
