// The one data-fetching layer: useResource loads, reloads on demand, and keeps the last good value.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "./client";
import type { RunEvent } from "./types";

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  reload: () => void;
}

export function useResource<T>(load: () => Promise<T>, deps: unknown[]): Resource<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError | Error>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loader = useRef(load);
  loader.current = load;
  useEffect(() => {
    let live = true;
    setLoading(true);
    loader.current().then(
      (value) => { if (live) { setData(value); setError(undefined); setLoading(false); } },
      (err: unknown) => { if (live) { setError(err instanceof Error ? err : new Error(String(err))); setLoading(false); } },
    );
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** Calls `onEvent` for each event of the run's SSE stream (the one the CLI follows) while `enabled`. */
export function useRunEvents(url: string | null, onEvent: (event: RunEvent) => void): void {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    if (!url || typeof EventSource === "undefined") return;
    const source = new EventSource(url, { withCredentials: true });
    const listen = (message: MessageEvent<string>) => {
      try { handler.current(JSON.parse(message.data) as RunEvent); } catch { /* a keep-alive or foreign frame */ }
    };
    source.onmessage = listen;
    // the server names each event (`event: step.completed`): EventSource only hands named events to listeners
    const known = ["run.started", "run.completed", "run.failed", "run.cancelled", "run.stopped", "run.finished",
      "run.start_failed", "step.started", "step.completed", "step.failed", "step.reask", "step.reused",
      "artifact.created", "approval.requested", "approval.resolved", "usage.recorded"];
    for (const name of known) source.addEventListener(name, listen as EventListener);
    source.onerror = () => { if (source.readyState === EventSource.CLOSED) source.close(); };
    return () => source.close();
  }, [url]);
}

/** Re-runs `tick` every `ms` while the page is open (the lists that have no stream of their own). */
export function useInterval(tick: () => void, ms: number | null): void {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    if (ms === null) return;
    const id = window.setInterval(() => saved.current(), ms);
    return () => window.clearInterval(id);
  }, [ms]);
}
