import { resolveGatewayConfig } from '@switchyard/gateway';
import { App, Stack, aws_ec2 as ec2, aws_lambda as lambda } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SwitchyardStack, type SwitchyardStackProps } from './stack.js';

const env = { account: '123456789012', region: 'eu-west-1' };
const base: SwitchyardStackProps = {
  env,
  endpointName: 'switchyard-iris',
  workerImageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/switchyard-worker:1.0.0',
  modelDataUrl: 's3://models/iris/model.tar.gz',
  gatewayCode: lambda.Code.fromInline('export const handler = async () => ({});'),
};

function synth(props: Partial<SwitchyardStackProps> = {}): Template {
  const app = new App();
  return Template.fromStack(new SwitchyardStack(app, 'Test', { ...base, ...props }));
}

type Json = Record<string, unknown>;
interface Statement {
  Action: string | string[];
  Resource: unknown;
  Effect: string;
}

function statements(template: Template): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy') as Record<
    string,
    { Properties: { PolicyDocument: { Statement: Statement[] } } }
  >;
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
}

/** The one Lambda function's `SWITCHYARD_CONFIG_JSON`, parsed. */
function gatewayConfigJson(template: Template): unknown {
  const fns = Object.values(template.findResources('AWS::Lambda::Function')) as {
    Properties: { Environment: { Variables: Record<string, string> } };
  }[];
  expect(fns).toHaveLength(1);
  const json = fns[0]?.Properties.Environment.Variables['SWITCHYARD_CONFIG_JSON'];
  if (json === undefined) throw new Error('SWITCHYARD_CONFIG_JSON is not set');
  return JSON.parse(json);
}

/** The endpoint's ARN as CloudFormation writes it (the partition is resolved at deploy time). */
function endpointArn(name: string): Json {
  return {
    'Fn::Join': [
      '',
      ['arn:', { Ref: 'AWS::Partition' }, `:sagemaker:eu-west-1:123456789012:endpoint/${name}`],
    ],
  };
}

// The first synthesis loads CDK's CloudFormation validation: seconds, more under load.
describe('SwitchyardStack', { timeout: 60_000 }, () => {
  it('runs the gateway on one Node 22 Lambda behind a function URL (IAM auth by default)', () => {
    const template = synth();
    template.resourceCountIs('AWS::Lambda::Function', 1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Handler: 'dist/lambda.handler',
      Architectures: ['x86_64'],
    });
    template.resourceCountIs('AWS::Lambda::Url', 1);
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM' });
    expect(
      synth({ functionUrlAuthType: lambda.FunctionUrlAuthType.NONE }).findResources(
        'AWS::Lambda::Url',
        { Properties: { AuthType: 'NONE' } },
      ),
    ).not.toEqual({});
  });

  it('refuses a gateway asset directory that holds no bundle, naming the command that makes one', () => {
    const { gatewayCode: _, ...withoutCode } = base;
    const app = new App();
    expect(
      () =>
        new SwitchyardStack(app, 'NoBundle', {
          ...withoutCode,
          gatewayAssetPath: '/nonexistent/gateway-bundle',
        }),
    ).toThrow(
      /no gateway bundle in \/nonexistent\/gateway-bundle: run `pnpm build && pnpm --filter @switchyard\/deploy-cdk bundle`/,
    );
  });

  it('builds a SageMaker model, an endpoint config with two weighted variants and the endpoint', () => {
    const template = synth({
      variantA: { name: 'blue', weight: 80, instanceType: 'ml.c5.xlarge', instanceCount: 2 },
      variantB: { name: 'green', weight: 20 },
    });
    template.hasResourceProperties('AWS::SageMaker::Model', {
      PrimaryContainer: { Image: base.workerImageUri, ModelDataUrl: base.modelDataUrl },
      ExecutionRoleArn: Match.anyValue(),
    });
    const configs = Object.values(template.findResources('AWS::SageMaker::EndpointConfig')) as {
      Properties: { ProductionVariants: Json[] };
    }[];
    expect(configs).toHaveLength(1);
    const variants = configs[0]?.Properties.ProductionVariants ?? [];
    expect(variants).toHaveLength(2);
    expect(variants.map((v) => v['InitialVariantWeight'])).toEqual([80, 20]);
    expect(variants.map((v) => v['VariantName'])).toEqual(['blue', 'green']);
    expect(variants.map((v) => v['InstanceType'])).toEqual(['ml.c5.xlarge', 'ml.m5.large']);
    expect(variants.map((v) => v['InitialInstanceCount'])).toEqual([2, 1]);
    template.hasResourceProperties('AWS::SageMaker::Endpoint', {
      EndpointName: 'switchyard-iris',
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'sagemaker.amazonaws.com' } })],
      },
    });
  });

  it('lets the gateway invoke that endpoint and nothing broader', () => {
    const all = statements(synth());
    const sagemakerStatements = all.filter((s) =>
      [s.Action].flat().some((a) => a.startsWith('sagemaker:')),
    );
    expect(sagemakerStatements).toEqual([
      {
        Action: 'sagemaker:InvokeEndpoint',
        Effect: 'Allow',
        Resource: endpointArn('switchyard-iris'),
      },
    ]);
    for (const s of all) {
      const actions = [s.Action].flat();
      expect(actions).not.toContain('sagemaker:*');
      expect(actions).not.toContain('*');
      if (actions.some((a) => a.startsWith('sagemaker:'))) expect(s.Resource).not.toBe('*');
    }
  });

  it('hands the gateway a valid configuration naming the endpoint', () => {
    const raw = gatewayConfigJson(synth());
    const config = resolveGatewayConfig(raw, 'SWITCHYARD_CONFIG_JSON');
    const variants = Object.values(config.models['model']?.variants ?? {});
    expect(variants).toHaveLength(1);
    expect(variants[0]?.backend).toMatchObject({
      type: 'sagemaker',
      endpointName: 'switchyard-iris',
      region: 'eu-west-1',
    });
  });

  it('follows its parameters', () => {
    const template = synth({
      endpointName: 'prod-ranker',
      gatewayModelName: 'ranker',
      functionName: 'ranker-gateway',
      sagemakerModelName: 'ranker-v7',
      endpointConfigName: 'ranker-ab',
      memorySize: 2048,
      variantA: { name: 'A', weight: 3, instanceType: 'ml.g5.xlarge' },
      variantB: { name: 'B', weight: 1, instanceType: 'ml.g5.xlarge' },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'ranker-gateway',
      MemorySize: 2048,
    });
    template.hasResourceProperties('AWS::SageMaker::Model', { ModelName: 'ranker-v7' });
    template.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      EndpointConfigName: 'ranker-ab',
      ProductionVariants: [
        Match.objectLike({ InitialVariantWeight: 3, InstanceType: 'ml.g5.xlarge' }),
        Match.objectLike({ InitialVariantWeight: 1, InstanceType: 'ml.g5.xlarge' }),
      ],
    });
    template.hasResourceProperties('AWS::SageMaker::Endpoint', { EndpointName: 'prod-ranker' });
    expect(statements(template)).toContainEqual({
      Action: 'sagemaker:InvokeEndpoint',
      Effect: 'Allow',
      Resource: endpointArn('prod-ranker'),
    });
    const config = resolveGatewayConfig(gatewayConfigJson(template));
    expect(Object.keys(config.models)).toEqual(['ranker']);
    expect(config.redis).toBeUndefined();
  });

  it('rejects two variants of the same name', () => {
    expect(() =>
      synth({ variantA: { name: 'X', weight: 1 }, variantB: { name: 'X', weight: 1 } }),
    ).toThrow(/different names/);
  });

  it('puts the gateway in the VPC with its own security group when Redis is given', () => {
    const app = new App();
    const vpcStack = new Stack(app, 'Network', { env });
    const vpc = new ec2.Vpc(vpcStack, 'Vpc', { maxAzs: 2 });
    const template = Template.fromStack(
      new SwitchyardStack(app, 'WithRedis', {
        ...base,
        redis: { url: 'rediss://cache.example.internal:6379', vpc },
      }),
    );
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: { SecurityGroupIds: Match.anyValue(), SubnetIds: Match.anyValue() },
    });
    template.resourceCountIs('AWS::EC2::SecurityGroup', 1);
    const config = resolveGatewayConfig(gatewayConfigJson(template));
    expect(config.redis?.url).toBe('rediss://cache.example.internal:6379');
  });
});
