import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CfnOutput,
  Duration,
  Stack,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_sagemaker as sagemaker,
  type StackProps,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';

import { BUNDLE_HANDLER } from './bundle.js';

/**
 * Where `pnpm --filter @switchyard/deploy-cdk bundle` writes the gateway's Lambda
 * code: `deploy/cdk/gateway-bundle`, from this file in `src/` or `dist/`.
 */
export const DEFAULT_GATEWAY_ASSET_PATH = fileURLToPath(
  new URL('../gateway-bundle', import.meta.url),
);

/** One production variant of the SageMaker endpoint. */
export interface VariantProps {
  /** Variant name (SageMaker's `VariantName`). */
  readonly name: string;
  /** Initial weight: the variant's share is weight / sum of weights. */
  readonly weight: number;
  /** @defaultValue `ml.m5.large` */
  readonly instanceType?: string;
  /** @defaultValue 1 */
  readonly instanceCount?: number;
}

/** Redis for queue backends, reached from the gateway inside a VPC. */
export interface RedisProps {
  /** `redis://host:port` or `rediss://host:port` (ElastiCache). */
  readonly url: string;
  /**
   * The VPC Redis lives in; the gateway runs in its private subnets with a security
   * group of its own. It then reaches SageMaker through a NAT gateway or a
   * `sagemaker.runtime` interface endpoint in that VPC. A bare `vpcId` is looked up
   * at synth time (`Vpc.fromLookup`: needs the stack's `env` and credentials).
   */
  readonly vpc: ec2.IVpc | { readonly vpcId: string };
  /** @defaultValue the VPC's private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;
}

export interface SwitchyardStackProps extends StackProps {
  /** SageMaker endpoint name; the gateway's model routes to it. */
  readonly endpointName: string;
  /** Worker image in ECR (runs as a SageMaker container with `serve`). */
  readonly workerImageUri: string;
  /** `s3://…/model.tar.gz` for the worker. */
  readonly modelDataUrl: string;
  /** Name of the model in the gateway's routes. @defaultValue `model` */
  readonly gatewayModelName?: string;
  /** @defaultValue `${endpointName}-model` */
  readonly sagemakerModelName?: string;
  /** @defaultValue `${endpointName}-config` */
  readonly endpointConfigName?: string;
  /** @defaultValue CloudFormation's generated name */
  readonly functionName?: string;
  /** @defaultValue `{ name: 'A', weight: 50 }` */
  readonly variantA?: VariantProps;
  /** @defaultValue `{ name: 'B', weight: 50 }` */
  readonly variantB?: VariantProps;
  /** Gateway Lambda memory in MB. @defaultValue 1024 */
  readonly memorySize?: number;
  /** Gateway Lambda timeout. @defaultValue 60 s (SageMaker's invocation limit) */
  readonly timeout?: Duration;
  /**
   * A gateway bundle (`bundleGateway`, or the package's `bundle` script).
   * @defaultValue {@link DEFAULT_GATEWAY_ASSET_PATH}
   */
  readonly gatewayAssetPath?: string;
  /** The function's processor; the bundle must be made for the same one. @defaultValue x86_64 */
  readonly architecture?: lambda.Architecture;
  /** Gateway code; wins over `gatewayAssetPath` (tests pass inline code). */
  readonly gatewayCode?: lambda.Code;
  /** @defaultValue `AWS_IAM` */
  readonly functionUrlAuthType?: lambda.FunctionUrlAuthType;
  /** Redis for queue backends; puts the gateway in the VPC. */
  readonly redis?: RedisProps;
}

function gatewayAsset(path: string): lambda.Code {
  if (!existsSync(join(path, 'dist', 'lambda.js'))) {
    throw new Error(
      `no gateway bundle in ${path}: run \`pnpm build && pnpm --filter @switchyard/deploy-cdk bundle\`` +
        ' (or pass gatewayAssetPath)',
    );
  }
  return lambda.Code.fromAsset(path);
}

function isVpc(vpc: ec2.IVpc | { readonly vpcId: string }): vpc is ec2.IVpc {
  return 'node' in vpc;
}

/** The gateway on Lambda with a function URL, in front of an A/B SageMaker endpoint. */
export class SwitchyardStack extends Stack {
  readonly gateway: lambda.Function;
  readonly functionUrl: lambda.FunctionUrl;
  readonly endpoint: sagemaker.CfnEndpoint;
  readonly endpointArn: string;
  /** The gateway configuration handed to the Lambda as `SWITCHYARD_CONFIG_JSON`. */
  readonly gatewayConfig: Record<string, unknown>;

  constructor(scope: Construct, id: string, props: SwitchyardStackProps) {
    super(scope, id, props);
    const { endpointName } = props;
    const variants = [
      props.variantA ?? { name: 'A', weight: 50 },
      props.variantB ?? { name: 'B', weight: 50 },
    ];
    if (variants[0]?.name === variants[1]?.name) {
      throw new Error(`the two variants need different names, both are '${variants[0]?.name}'`);
    }

    const executionRole = new iam.Role(this, 'SageMakerExecutionRole', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSageMakerFullAccess')],
    });

    const model = new sagemaker.CfnModel(this, 'Model', {
      modelName: props.sagemakerModelName ?? `${endpointName}-model`,
      executionRoleArn: executionRole.roleArn,
      primaryContainer: { image: props.workerImageUri, modelDataUrl: props.modelDataUrl },
    });

    const endpointConfig = new sagemaker.CfnEndpointConfig(this, 'EndpointConfig', {
      endpointConfigName: props.endpointConfigName ?? `${endpointName}-config`,
      productionVariants: variants.map((v) => ({
        variantName: v.name,
        modelName: model.attrModelName,
        initialVariantWeight: v.weight,
        instanceType: v.instanceType ?? 'ml.m5.large',
        initialInstanceCount: v.instanceCount ?? 1,
      })),
    });

    this.endpoint = new sagemaker.CfnEndpoint(this, 'Endpoint', {
      endpointName,
      endpointConfigName: endpointConfig.attrEndpointConfigName,
    });
    this.endpointArn = this.formatArn({
      service: 'sagemaker',
      resource: 'endpoint',
      // SageMaker ARNs carry the endpoint name in lower case.
      resourceName: endpointName.toLowerCase(),
    });

    const modelName = props.gatewayModelName ?? 'model';
    this.gatewayConfig = {
      models: {
        [modelName]: {
          // SageMaker splits traffic between its own variants by their weights.
          variants: {
            sagemaker: {
              weight: 1,
              backend: { type: 'sagemaker', endpointName, region: this.region },
            },
          },
        },
      },
      // Lambda's only writable directory.
      storage: { url: '/tmp/switchyard/storage' },
      ...(props.redis === undefined ? {} : { redis: { url: props.redis.url } }),
    };

    const role = new iam.Role(this, 'GatewayRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName(
          props.redis === undefined
            ? 'service-role/AWSLambdaBasicExecutionRole'
            : 'service-role/AWSLambdaVPCAccessExecutionRole',
        ),
      ],
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['sagemaker:InvokeEndpoint'],
        resources: [this.endpointArn],
      }),
    );

    let vpcProps: Partial<lambda.FunctionProps> = {};
    if (props.redis !== undefined) {
      const given = props.redis.vpc;
      const vpc = isVpc(given) ? given : ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: given.vpcId });
      vpcProps = {
        vpc,
        vpcSubnets: props.redis.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: [
          new ec2.SecurityGroup(this, 'GatewaySecurityGroup', {
            vpc,
            description: 'Switchyard gateway (Redis and SageMaker clients)',
            allowAllOutbound: true,
          }),
        ],
      };
    }

    this.gateway = new lambda.Function(this, 'Gateway', {
      ...vpcProps,
      ...(props.functionName === undefined ? {} : { functionName: props.functionName }),
      // Node 20 is deprecated on Lambda (since 2026-04-30) and by the AWS SDK; the
      // gateway is built for Node 20.19+ and runs unchanged on 22.
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: props.architecture ?? lambda.Architecture.X86_64,
      handler: BUNDLE_HANDLER,
      code: props.gatewayCode ?? gatewayAsset(props.gatewayAssetPath ?? DEFAULT_GATEWAY_ASSET_PATH),
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.seconds(60),
      role,
      environment: {
        SWITCHYARD_CONFIG_JSON: Stack.of(this).toJsonString(this.gatewayConfig),
        NODE_OPTIONS: '--enable-source-maps',
      },
    });

    this.functionUrl = this.gateway.addFunctionUrl({
      authType: props.functionUrlAuthType ?? lambda.FunctionUrlAuthType.AWS_IAM,
    });
    new CfnOutput(this, 'GatewayUrl', { value: this.functionUrl.url });
    new CfnOutput(this, 'EndpointName', { value: this.endpoint.attrEndpointName });
  }
}
