import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { printable } from '../auth/login-name.js';
import { readJson, send } from '../http/json.js';

export const DEMO_ALERT_PATH = '/demo/alerts';

/**
 * Demo only (`http.demo_alert_receiver`): a webhook receiver inside the bastion, so that alerting
 * (and `bastion drill`) works out of the box without any external service. It logs what it
 * receives; anyone who can reach the port can post to it, so production configs leave it off.
 */
export async function handleDemoAlertRoute(req: IncomingMessage, res: ServerResponse, log: Logger): Promise<boolean> {
  if (new URL(req.url ?? '/', 'http://bastion').pathname !== DEMO_ALERT_PATH) return false;
  if (req.method !== 'POST') {
    send(res, 405, { error: `POST alerts to ${DEMO_ALERT_PATH}` });
    return true;
  }
  const body = await readJson(req);
  if (!body.ok) {
    send(res, body.status, { error: body.error });
    return true;
  }
  const a = body.value as Record<string, unknown>;
  const field = (k: string) => (typeof a[k] === 'string' ? printable(a[k] as string, 200) : undefined);
  const watch = (a.links as { watch?: unknown } | undefined)?.watch;
  log.info(
    { demo_receiver: true, kind: field('kind'), session_id: field('session_id'), drill: a.drill === true, ...(typeof watch === 'string' ? { watch: printable(watch, 200) } : {}) },
    `demo webhook received: ${field('summary') ?? '(no summary)'}`,
  );
  res.writeHead(204).end();
  return true;
}
