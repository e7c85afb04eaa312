import type { HandlerLogger } from '@switchyard/handlers';
import { EXAMPLE_REQUESTS, runExample } from './run-example.js';

// Until the gateway serves models over HTTP, `pnpm start` shows the handler chain
// on the example model: each request, its status and the body a client would get.
const log = (level: string) => (fields: object | string, message?: string) => {
  const entry = typeof fields === 'string' ? { msg: fields } : { ...fields, msg: message };
  console.log(JSON.stringify({ level, ...entry }));
};
const logger: HandlerLogger = {
  debug: () => undefined,
  info: log('info'),
  warn: log('warn'),
  error: log('error'),
};

const responses = await runExample(EXAMPLE_REQUESTS, logger);
for (const response of responses) {
  console.log(
    `\n${response.name}\n  ${response.status} ${response.contentType}\n  ${response.body.trimEnd().replaceAll('\n', '\n  ')}`,
  );
}
