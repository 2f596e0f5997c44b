// The HTTP status of a controller call a test expects to fail (200 when it did not fail).
import { ControllerError } from '../../shared/controller-client.ts';

export async function failure(call: Promise<unknown>): Promise<number> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ControllerError) return err.status;
    throw err;
  }
  return 200;
}
