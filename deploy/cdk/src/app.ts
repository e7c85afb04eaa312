#!/usr/bin/env node
import { App, Duration, aws_lambda as lambda } from 'aws-cdk-lib';
import { SwitchyardStack, type SwitchyardStackProps, type VariantProps } from './stack.js';

/**
 * `cdk synth -c endpointName=… -c workerImageUri=… -c modelDataUrl=…` (or the
 * same keys in cdk.json's `context`). Optional: stackName, gatewayModelName,
 * functionName, variantA/variantB (names), weightA/weightB, instanceType(A/B),
 * instanceCount(A/B), memorySize, timeoutSeconds, functionUrlAuthType (AWS_IAM |
 * NONE), gatewayAssetPath, architecture (x86_64 | arm64, matching the bundle's
 * --arch), redisUrl + vpcId (gateway in the VPC).
 */
const app = new App();

function text(key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`context ${key} must be a string or number, got ${JSON.stringify(value)}`);
}

function required(key: string): string {
  const value = text(key);
  if (value === undefined) throw new Error(`missing context: pass -c ${key}=…`);
  return value;
}

function num(key: string): number | undefined {
  const value = text(key);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`context ${key} must be a number, got '${value}'`);
  return n;
}

function variant(side: 'A' | 'B'): VariantProps {
  const instanceType = text(`instanceType${side}`) ?? text('instanceType');
  const instanceCount = num(`instanceCount${side}`) ?? num('instanceCount');
  return {
    name: text(`variant${side}`) ?? side,
    weight: num(`weight${side}`) ?? 50,
    ...(instanceType === undefined ? {} : { instanceType }),
    ...(instanceCount === undefined ? {} : { instanceCount }),
  };
}

function optional<K extends keyof SwitchyardStackProps>(
  key: K,
  value: SwitchyardStackProps[K] | undefined,
): Partial<SwitchyardStackProps> {
  return value === undefined ? {} : { [key]: value };
}

const account = process.env['CDK_DEFAULT_ACCOUNT'];
const region = process.env['CDK_DEFAULT_REGION'];
const stackName = text('stackName') ?? 'Switchyard';
const authType = text('functionUrlAuthType');
if (authType !== undefined && authType !== 'AWS_IAM' && authType !== 'NONE') {
  throw new Error(`context functionUrlAuthType must be AWS_IAM or NONE, got '${authType}'`);
}
const architecture = text('architecture');
if (architecture !== undefined && architecture !== 'x86_64' && architecture !== 'arm64') {
  throw new Error(`context architecture must be x86_64 or arm64, got '${architecture}'`);
}
const timeoutSeconds = num('timeoutSeconds');
const redisUrl = text('redisUrl');
const vpcId = text('vpcId');
if ((redisUrl === undefined) !== (vpcId === undefined)) {
  throw new Error('redisUrl and vpcId go together: pass both or neither');
}

new SwitchyardStack(app, stackName, {
  ...(account === undefined || region === undefined ? {} : { env: { account, region } }),
  endpointName: required('endpointName'),
  workerImageUri: required('workerImageUri'),
  modelDataUrl: required('modelDataUrl'),
  variantA: variant('A'),
  variantB: variant('B'),
  ...optional('gatewayModelName', text('gatewayModelName')),
  ...optional('functionName', text('functionName')),
  ...optional('memorySize', num('memorySize')),
  ...optional('gatewayAssetPath', text('gatewayAssetPath')),
  ...optional(
    'architecture',
    architecture === undefined
      ? undefined
      : architecture === 'arm64'
        ? lambda.Architecture.ARM_64
        : lambda.Architecture.X86_64,
  ),
  ...optional(
    'timeout',
    timeoutSeconds === undefined ? undefined : Duration.seconds(timeoutSeconds),
  ),
  ...optional(
    'functionUrlAuthType',
    authType === undefined ? undefined : lambda.FunctionUrlAuthType[authType],
  ),
  ...optional(
    'redis',
    redisUrl === undefined || vpcId === undefined ? undefined : { url: redisUrl, vpc: { vpcId } },
  ),
});

app.synth();
