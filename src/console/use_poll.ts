// Polls a loader every `ms` while the page is shown.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { message } from "./format.ts";

/** The loader's last value and error, refreshed every `ms`; `reload` loads at once. */
export function usePoll<T>(
  load: () => Promise<T>,
  ms: number,
  deps: unknown[] = [],
): { data: T | undefined; error: string | undefined; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const loader = useRef(load);
  loader.current = load;
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await loader.current();
        if (live) {
          setData(value);
          setError(undefined);
        }
      } catch (e) {
        if (live) setError(message(e));
      }
      if (live && ms > 0) timer = setTimeout(run, ms);
    };
    run();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [ms, tick, ...deps]);
  return { data, error, reload };
}
