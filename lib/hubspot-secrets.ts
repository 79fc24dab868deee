import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface HubSpotSecretsProps {
  /**
   * Deployment stage; part of the secret names (`crm-airlock/<stage>/hubspot-read-token`).
   * @default none, required
   */
  readonly stage: string;
}

const ROTATION_REASON =
  'HubSpot Service Keys and private-app tokens cannot be issued through an AWS API, so a ' +
  'rotation Lambda has nothing to call: they are rotated in HubSpot and then stored here with ' +
  "the gateway's `rotate` command (which overwrites the secret value).";

/**
 * The two HubSpot tokens, each in its own secret (docs/ARCHITECTURE.md, "Security invariants"):
 *
 * - `readToken`: a token with read scopes only; the HubSpot-call function reads it.
 * - `writeToken`: the note-writing token (`crm.objects.contacts.write`, which can also delete
 *   contacts, and `crm.objects.contacts.read`, so a retried write can look for its note); only
 *   the approval flow's write function may read it (granted in `approval-flow.ts`, and the
 *   secret's own policy refuses everyone else).
 *
 * No token value is ever in the template: each secret is created holding an empty token
 * (`{"token": ""}`), and must be replaced with the real one (`npm run token:set`, or
 * `aws secretsmanager put-secret-value`); until then the functions answer 503 without calling
 * HubSpot.
 * Encrypted with the account's `aws/secretsmanager` key: no key policy to maintain, and only
 * principals granted `secretsmanager:GetSecretValue` on the secret can decrypt it.
 */
export class HubSpotSecrets extends Construct {
  /** The read-only HubSpot token. */
  public readonly readToken: secretsmanager.Secret;
  /** The write token (create_note after approval). */
  public readonly writeToken: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: HubSpotSecretsProps) {
    super(scope, id);
    this.readToken = this.tokenSecret('ReadToken', props.stage, 'read', 'read-only CRM scopes');
    this.writeToken = this.tokenSecret(
      'WriteToken',
      props.stage,
      'write',
      'crm.objects.contacts.write and crm.objects.contacts.read (a retried write looks for its note first), used only by the approved write path',
    );
  }

  /** Lets a principal read the read token's value; nothing else, on no other secret. */
  public grantReadTokenValue(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [this.readToken.secretArn],
    });
  }

  private tokenSecret(
    id: string,
    stage: string,
    kind: 'read' | 'write',
    scopes: string,
  ): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, id, {
      secretName: `crm-airlock/${stage}/hubspot-${kind}-token`,
      description:
        `CRM Airlock (${stage}): HubSpot ${kind} token (${scopes}). Created empty ` +
        '(`{"token": ""}`); store the real token with `npm run token:set`.',
      // An empty token, not a random one: until the real token is stored, the functions answer
      // 503 without calling HubSpot, instead of sending a random bearer token to it.
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ token: '' }),
        generateStringKey: 'placeholder',
      },
    });
    Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: ROTATION_REASON });
    return secret;
  }
}
