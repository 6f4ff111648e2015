// The chat app of blueprints/chat/infra/src/lib.rs (stack `Chat`, as the chat fixture
// builds it), written with aws-cdk-lib:
// a connections table, four provided.al2023 functions with log groups, a WebSocket API
// with $connect, $disconnect, sendmessage and a two-way $default, a throttled stage,
// and the same grants and outputs. CHAT_LAMBDAS points at the handler crates.
const path = require('path');
const cdk = require('aws-cdk-lib');
const apigw = require('aws-cdk-lib/aws-apigatewayv2');
const { WebSocketLambdaIntegration } = require('aws-cdk-lib/aws-apigatewayv2-integrations');
const lambda = require('aws-cdk-lib/aws-lambda');
const dynamodb = require('aws-cdk-lib/aws-dynamodb');
const logs = require('aws-cdk-lib/aws-logs');

const lambdas = process.env.CHAT_LAMBDAS || path.join(__dirname, '../../tests/fixtures/chat/lambdas');
const app = new cdk.App();
const stack = new cdk.Stack(app, 'Chat', { description: 'A chat room on API Gateway WebSockets (wsgen chat blueprint)' });
cdk.Tags.of(stack).add('app', 'chat');
const table = new dynamodb.Table(stack, 'Connections', {
  partitionKey: { name: 'connectionId', type: dynamodb.AttributeType.STRING },
  billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
  encryption: dynamodb.TableEncryption.AWS_MANAGED,
  timeToLiveAttribute: 'expiresAt',
  removalPolicy: cdk.RemovalPolicy.RETAIN,
});
const fn = (id, dir, memorySize, env) => new lambda.Function(stack, id, {
  runtime: lambda.Runtime.PROVIDED_AL2023,
  handler: 'bootstrap',
  code: lambda.Code.fromAsset(path.join(lambdas, dir)),
  memorySize: memorySize || 128,
  timeout: cdk.Duration.seconds(10),
  environment: env,
  logGroup: new logs.LogGroup(stack, id + 'LogGroup', { retention: logs.RetentionDays.ONE_MONTH }),
});
const tableEnv = { TABLE_NAME: table.tableName };
const connect = fn('OnConnect', 'onconnect', 128, { ...tableEnv, CONNECTION_TTL_SECONDS: '7200' });
const disconnect = fn('OnDisconnect', 'ondisconnect', 128, tableEnv);
const send = fn('SendMessage', 'sendmessage', 256, tableEnv);
const fallback = fn('DefaultHandler', 'default', 128, { ACTIONS: 'sendmessage' });
table.grantWriteData(connect);
table.grantWriteData(disconnect);
table.grantReadWriteData(send);
const api = new apigw.WebSocketApi(stack, 'ChatApi', {
  connectRouteOptions: { integration: new WebSocketLambdaIntegration('Connect', connect) },
  disconnectRouteOptions: { integration: new WebSocketLambdaIntegration('Disconnect', disconnect) },
  defaultRouteOptions: { integration: new WebSocketLambdaIntegration('DefaultIntegration', fallback), returnResponse: true },
});
api.addRoute('sendmessage', { integration: new WebSocketLambdaIntegration('Send', send) });
const live = new apigw.WebSocketStage(stack, 'Live', {
  webSocketApi: api,
  stageName: 'live',
  autoDeploy: true,
  throttle: { rateLimit: 100, burstLimit: 50 },
});
live.grantManagementApiAccess(send);
new cdk.CfnOutput(stack, 'WebSocketUrl', { value: live.url, description: 'Where clients connect' });
new cdk.CfnOutput(stack, 'CallbackUrl', { value: live.callbackUrl, description: 'The @connections endpoint' });
new cdk.CfnOutput(stack, 'TableName', { value: table.tableName });
app.synth();
