// Newline-delimited JSON between the orchestrator and its sandbox processes.
// JSON rather than a structured-clone format: everything that crosses is
// already JSON (steps, tool calls, events, spans), and a broken or hostile
// peer can send nothing that decodes into more than data. Internal.

/** Longest line accepted from a peer (a line over it ends the connection). */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;

const encoder = new TextEncoder();

/** Writes messages as JSON lines, in order, one write at a time. */
export class LineWriter {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(stream: WritableStream<Uint8Array>) {
    this.#writer = stream.getWriter();
  }

  /** Queues one message; errors (a closed peer) are swallowed: the reader side notices. */
  send(message: unknown): void {
    if (this.#closed) return;
    const bytes = encoder.encode(`${JSON.stringify(message)}\n`);
    this.#queue = this.#queue.then(() => this.#writer.write(bytes)).catch(() => {
      this.#closed = true;
    });
  }

  /** Waits for queued writes, then closes the stream. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    await this.#writer.close().catch(() => {});
  }
}

/**
 * Reads JSON lines and calls `onMessage` with each parsed value. Resolves
 * when the stream ends; rejects on a line that is not JSON or too long.
 */
export async function readLines(
  stream: ReadableStream<Uint8Array>,
  onMessage: (message: unknown) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of stream) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.length > 0) onMessage(JSON.parse(line));
    }
    if (buffer.length > MAX_LINE_BYTES) {
      throw new RangeError(`A line of over ${MAX_LINE_BYTES} bytes arrived`);
    }
  }
}
