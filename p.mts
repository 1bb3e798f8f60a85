import { LocalCloud } from './test/harness/local-cloud.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
process.env.POWERTOOLS_LOG_LEVEL='SILENT';
const cloud = await LocalCloud.start();
const eb = new EventBridgeClient({ endpoint: cloud.moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
let t = Date.now();
for (let i = 0; i < 60; i++) {
  await eb.send(new PutEventsCommand({ Entries: Array.from({length:10},(_, j)=>({ Source: 'ami-lifecycle', DetailType: 'BakeRequested', Detail: JSON.stringify({managedBy:'ami-lifecycle-dev', n: j}), EventBusName: 'ami-lifecycle-dev' })) }));
  if (i % 10 === 9) { console.log(i, Date.now() - t); t = Date.now(); }
}
await cloud.stop();
