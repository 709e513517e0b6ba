// One run: its steps as a live timeline, inputs, decisions and who made them, documents; for operators Cancel,
// Pause/Resume (between steps), Retry (a failed, cancelled or stopped run) and "Rerun from here" on each step.
import { useState } from "react";
import { api } from "../../api/client";
import { useResource, useRunEvents } from "../../api/hooks";
import type { Decision, Me, RunDetail, RunUsage } from "../../api/types";
import { RerunFromHere } from "./Rerun";
import { duration, tokens, usd, when } from "../../lib/format";
import { go, href } from "../../lib/route";
import { can } from "../../lib/roles";
import { ErrorLine, Page, Status, button, td, th } from "../../ui";

export function Run({ runId, me }: { runId: string; me: Me }) {
  const run = useResource(() => api.run(runId), [runId]);
  const usage = useResource(() => api.runUsage(runId), [runId]);
  const [cancelError, setCancelError] = useState<Error>();
  const [live, setLive] = useState(0);
  const r = run.data;
  useRunEvents(r && r.status === "running" ? api.eventsUrl(runId) : null, () => {
    setLive((n) => n + 1);
    run.reload();
    usage.reload();
  });

  const act = (what: () => Promise<unknown>) => async () => {
    setCancelError(undefined);
    try { await what(); run.reload(); } catch (err) { setCancelError(err as Error); }
  };
  const cancel = act(() => api.cancelRun(runId));
  const pause = act(() => api.pauseRun(runId));
  const resume = act(() => api.resumeRun(runId));
  const retry = act(async () => go(href("runs", (await api.rerun(runId)).run_id)));
  const operator = can.operate(me);

  return (
    <Page title={`Run ${runId}`} actions={<>
      {r?.web_ui && <a className={button} href={r.web_ui} target="_blank" rel="noreferrer">Open in Temporal Web UI</a>}
      {r && operator && r.status === "running" && (r.paused
        ? <button type="button" className={button} onClick={resume}>Resume</button>
        : <button type="button" className={button} onClick={pause}>Pause</button>)}
      {r && can.cancel(me) && r.status === "running" && <button type="button" className={button} onClick={cancel}>Cancel</button>}
      {r && operator && RETRYABLE.includes(r.status) && <button type="button" className={button} onClick={retry}>Retry</button>}
    </>}>
      <ErrorLine error={run.error} />
      <ErrorLine error={cancelError} />
      {r && <>
        <p className="mb-3 text-sm">
          <Status value={r.status} /> <span className="ml-2">{r.workflow_id}</span>
          <span className="ml-4 text-slate-500">started {when(r.created_at)} · {duration(r.created_at, r.finished_at)} ·
            {" "}{tokens(r.usage.prompt_tokens + r.usage.completion_tokens)} tokens · {usd(r.usage.cost_usd)}</span>
          {r.status === "running" && <span className="ml-4 text-xs text-blue-700" aria-live="polite">live · {live} events</span>}
        </p>
        {r.parent_run_id && (
          <p className="mb-3 text-sm">Rerun of <a className="text-blue-700 underline" href={href("runs", r.parent_run_id)}>{r.parent_run_id}</a>
            {r.rerun_from && <> from <span className="font-mono">{r.rerun_from}</span></>}</p>
        )}
        {r.paused && (
          <p role="status" className="mb-3 rounded bg-amber-50 p-2 text-sm">
            Paused by {r.paused}{r.paused_before ? <> before <span className="font-mono">{r.paused_before}</span></> : " (the running step finishes first)"}
          </p>
        )}
        {r.error && <p role="alert" className="mb-3 rounded bg-red-50 p-2 text-sm text-red-800">{r.error}</p>}
        {r.pending_approvals && r.pending_approvals.length > 0 && (
          <p className="mb-3 rounded bg-amber-50 p-2 text-sm">
            Waiting for {r.pending_approvals.map((p) => p.step).join(", ")} —{" "}
            <a className="text-blue-700 underline" href={`#/approvals?run=${encodeURIComponent(runId)}`}>decide in Approvals</a>
          </p>
        )}
        <div className="grid grid-cols-1 gap-4 lg:grid-cols-3">
          <div className="lg:col-span-2"><Timeline run={r} usage={usage.data} rerun={operator && r.status !== "running"} /></div>
          <aside className="space-y-4">
            <Documents run={r} />
            <Inputs inputs={r.inputs} />
            <Decisions run={r} />
          </aside>
        </div>
      </>}
    </Page>
  );
}

const RETRYABLE = ["failed", "cancelled", "stopped"];

function Timeline({ run, usage, rerun }: { run: RunDetail; usage: RunUsage | undefined; rerun: boolean }) {
  const byStep = new Map((usage?.by_step ?? []).map((g) => [g.step, g]));
  return (
    <section aria-label="Steps" className="bg-white p-3 shadow-sm">
      <h2 className="mb-2 font-semibold">Steps</h2>
      <ol className="relative border-l border-slate-300 pl-4">
        {run.steps.map((s) => {
          const u = byStep.get(s.id);
          return (
            <li key={s.id} className="mb-3" data-testid="step" data-status={s.status}>
              <span className={`absolute -left-1.5 mt-1.5 h-3 w-3 rounded-full ${dot(s.status)}`} aria-hidden />
              <div className="flex flex-wrap items-baseline gap-x-3 text-sm">
                <span className="font-mono font-medium">{s.id}</span>
                <Status value={s.status} />
                {s.agent && <span>agent {s.agent}</span>}
                {s.model && <span className="text-slate-500">{s.provider}:{s.model}</span>}
                <span className="text-slate-500">attempts {s.attempts}</span>
                <span className="text-slate-500">{u ? tokens(u.prompt_tokens + u.completion_tokens) : 0} tokens</span>
                <span className="text-slate-500">{usd(u?.cost_usd ?? 0)}</span>
                <span className="text-slate-500">{duration(s.started_at, s.finished_at)}</span>
              </div>
              {s.error && <p className="text-xs text-red-700">{s.error}</p>}
              {rerun && s.agent && <RerunFromHere run={run} step={s} />}
            </li>
          );
        })}
      </ol>
    </section>
  );
}

function dot(status: string): string {
  return { completed: "bg-green-500", running: "bg-blue-500 animate-pulse", failed: "bg-red-500" }[status] ?? "bg-slate-300";
}

function Documents({ run }: { run: RunDetail }) {
  const latest = new Map<string, number>();
  for (const a of run.artifacts) latest.set(a.name, Math.max(a.version, latest.get(a.name) ?? 0));
  return (
    <section aria-label="Documents" className="bg-white p-3 shadow-sm">
      <h2 className="mb-2 font-semibold">Documents</h2>
      <ul className="text-sm">
        {[...latest].map(([name, v]) => (
          <li key={name}><a className="text-blue-700 underline" href={href("runs", run.run_id, "documents", name)}>{name}</a>
            <span className="text-slate-500"> v{v}</span></li>
        ))}
      </ul>
      {latest.size > 0 && <a className="mt-2 inline-block text-xs text-blue-700 underline" href={api.zipUrl(run.run_id)}>Download all (ZIP)</a>}
    </section>
  );
}

function Inputs({ inputs }: { inputs: Record<string, unknown> }) {
  return (
    <section aria-label="Inputs" className="bg-white p-3 shadow-sm">
      <h2 className="mb-2 font-semibold">Inputs</h2>
      <table className="w-full"><tbody>
        {Object.entries(inputs).map(([k, v]) => (
          <tr key={k}><td className={`${td} font-mono`}>{k}</td><td className={td}>{JSON.stringify(v)}</td></tr>
        ))}
      </tbody></table>
    </section>
  );
}

/** A person's decision as they made it; a condition's or route's outcome as "name: yes/no/choice". */
export function decisionText(d: Decision): string {
  if (d.decision !== undefined) return d.decision;
  if (d.condition !== undefined) return `${d.condition}: ${d.choice ?? (d.value ? "yes" : "no")}`;
  return "";
}

function Decisions({ run }: { run: RunDetail }) {
  return (
    <section aria-label="Decisions" className="bg-white p-3 shadow-sm">
      <h2 className="mb-2 font-semibold">Decisions</h2>
      {run.decisions.length === 0 ? <p className="text-sm text-slate-500">None yet.</p> : (
        <table className="w-full">
          <thead><tr>{["Step", "Decision", "By", "Comment"].map((h) => <th key={h} className={th}>{h}</th>)}</tr></thead>
          <tbody>{run.decisions.map((d, i) => (
            <tr key={i}><td className={`${td} font-mono`}>{d.step}</td><td className={td}>{decisionText(d)}</td>
              <td className={td}>{d.by ?? d.source}{d.role ? ` (${d.role})` : ""}</td><td className={td}>{d.comment}</td></tr>
          ))}</tbody>
        </table>
      )}
    </section>
  );
}
