/** The log types that flow through the pipeline. */
export type LogType = 'result' | 'status' | 'audit';

/**
 * Where log lines go. `deliver` resolves once the batch is accepted and throws otherwise; the
 * pipeline then keeps the batch and retries with backoff, in order.
 */
export interface Destination {
  readonly kind: string;
  deliver(type: LogType, lines: readonly string[]): Promise<void>;
  close?(): Promise<void>;
}
