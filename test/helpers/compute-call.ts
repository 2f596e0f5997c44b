// A Compute v2.1 call against a test control plane that returns status and body, whatever the status.
import { request } from 'undici';
import type { ControllerClient } from '../../shared/controller-client.ts';
import type { ControlPlane } from './control-plane.ts';

export const computeCall = (plane: ControlPlane) =>
  async (c: ControllerClient, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await request(`${plane.controllerUrl}/v2.1${path}`, {
      method: method as 'GET', dispatcher: plane.dispatcher, body: body === undefined ? undefined : JSON.stringify(body),
      headers: { 'x-auth-token': await c.authToken(), 'content-type': 'application/json', ...headers },
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
  };
