// An execution's events over its SSE stream: an EventSource opened with a
// stream token (the API token never goes in a URL); on an error it asks for
// a new token and reopens after the last event seen, until the `end` message.
import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";
import type { LogEvent } from "./waterfall_rows.ts";

/** The events so far, whether the stream ended, and how often it reconnected. */
export function useStream(
  executionId: string,
): { events: LogEvent[]; ended: boolean; reconnects: number } {
  const [events, setEvents] = useState<LogEvent[]>([]);
  const [ended, setEnded] = useState(false);
  const [reconnects, setReconnects] = useState(0);
  useEffect(() => {
    setEvents([]);
    setEnded(false);
    let last = 0;
    let source: EventSource | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const open = async () => {
      if (stopped) return;
      let url: string;
      try {
        const { stream } = await api<{ stream: string }>(
          `/executions/${encodeURIComponent(executionId)}/stream-token`,
          { method: "POST" },
        );
        url = `${stream}${stream.includes("?") ? "&" : "?"}after=${last}`;
      } catch {
        timer = setTimeout(open, 2000);
        return;
      }
      if (stopped) return;
      source = new EventSource(url);
      source.onmessage = (message) => {
        const event = JSON.parse(message.data) as LogEvent;
        if (event.seq <= last) return;
        last = event.seq;
        setEvents((list) => [...list, event]);
      };
      source.addEventListener("end", () => {
        source?.close();
        stopped = true;
        setEnded(true);
      });
      source.onerror = () => {
        source?.close();
        if (stopped) return;
        setReconnects((n) => n + 1);
        timer = setTimeout(open, 1000);
      };
    };
    open();
    return () => {
      stopped = true;
      clearTimeout(timer);
      source?.close();
    };
  }, [executionId]);
  return { events, ended, reconnects };
}
