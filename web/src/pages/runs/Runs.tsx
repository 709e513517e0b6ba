// Runs, newest first, with filters; live: each running run's event stream reloads the list.
import { useState } from "react";
import { api } from "../../api/client";
import { useInterval, useResource, useRunEvents } from "../../api/hooks";
import { duration, usd, when } from "../../lib/format";
import { href } from "../../lib/route";
import { ErrorLine, Page, Status, input, td, th } from "../../ui";
import type { RunSummary } from "../../api/types";

const STATUSES = ["", "running", "completed", "failed", "cancelled", "stopped"];

export function Runs({ params }: { params: URLSearchParams }) {
  const [status, setStatus] = useState(params.get("status") ?? "");
  const [workflow, setWorkflow] = useState(params.get("workflow") ?? "");
  const runs = useResource(() => api.runs({ status, workflow: workflow.trim(), limit: 100 }), [status, workflow]);
  const items = runs.data?.items ?? [];
  const running = items.filter((r) => r.status === "running");
  useInterval(runs.reload, 10_000); // runs started elsewhere appear without a stream of their own

  return (
    <Page title="Runs" actions={<a href="#/new" className="rounded bg-blue-700 px-3 py-1.5 text-sm text-white">New run</a>}>
      <div className="mb-3 flex gap-3" role="search">
        <label className="text-sm">Status{" "}
          <select aria-label="Status" className={input} value={status} onChange={(e) => setStatus(e.target.value)}>
            {STATUSES.map((s) => <option key={s} value={s}>{s || "any"}</option>)}
          </select>
        </label>
        <label className="text-sm">Workflow{" "}
          <input aria-label="Workflow" className={input} value={workflow} onChange={(e) => setWorkflow(e.target.value)} />
        </label>
      </div>
      {/* at most 3 streams: a browser keeps only 6 connections per host */}
      {running.slice(0, 3).map((r) => <LiveRun key={r.run_id} runId={r.run_id} onChange={runs.reload} />)}
      <ErrorLine error={runs.error} />
      <table className="w-full bg-white shadow-sm" aria-label="Runs">
        <thead><tr>{["Run", "Status", "Workflow", "Started", "Duration", "Cost"].map((h) => <th key={h} className={th}>{h}</th>)}</tr></thead>
        <tbody>
          {items.map((r) => <RunRow key={r.run_id} run={r} />)}
          {!runs.loading && items.length === 0 && <tr><td className={td} colSpan={6}>No runs yet.</td></tr>}
        </tbody>
      </table>
    </Page>
  );
}

function RunRow({ run }: { run: RunSummary & { cost_usd?: number } }) {
  return (
    <tr>
      <td className={td}><a className="font-mono text-blue-700 underline" href={href("runs", run.run_id)}>{run.run_id}</a></td>
      <td className={td}><Status value={run.status} /></td>
      <td className={td}>{run.workflow_id}</td>
      <td className={td}>{when(run.created_at)}</td>
      <td className={td}>{duration(run.created_at, run.finished_at)}</td>
      <td className={td}>{usd(run.cost_usd)}</td>
    </tr>
  );
}

function LiveRun({ runId, onChange }: { runId: string; onChange: () => void }) {
  useRunEvents(api.eventsUrl(runId), (event) => {
    if (event.type.startsWith("run.") || event.type.startsWith("step.")) onChange();
  });
  return null;
}
