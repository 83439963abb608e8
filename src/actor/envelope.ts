/**
 * The envelope of every actor message: who sent it, its place in the
 * sender's sequence towards the receiver, its id and its W3C trace context.
 * On the wire, envelopes travel in batches whose shared fields are written
 * once; the receiver sees them whole.
 *
 * @module
 */

/** Metadata of the message being handled, as seen by the receiver. */
export interface MessageMeta {
  /** Unique message id: `<sender>#<link space>:<seq>`. */
  id: string;
  /** Path of the sender (`"$host"` for messages from outside any actor). */
  from: string;
  /** Sequence number of the message on the sender → receiver link (1, 2, 3, …). */
  seq: number;
  /** W3C `traceparent` of the span that sent the message. */
  traceparent: string;
  /** W3C `tracestate`, when the sender had one. */
  tracestate?: string;
  /** True when the message is delivered again after a restart of the receiver. */
  redelivered: boolean;
  /** True when the sender awaits a reply (`ask`). */
  isAsk: boolean;
}

/** A message with its metadata (dead letters, inspection). */
export interface Envelope extends MessageMeta {
  /** Receiver path. */
  to: string;
  /** The message itself. */
  body: unknown;
}

/** Sender path used for messages from the host process. */
export const HOST_SENDER = "$host";
