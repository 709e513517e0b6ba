// The inbox: everything waiting that my roles may decide, newest first, the document beside the controls.
import { useState } from "react";
import { api } from "../../api/client";
import { useInterval, useResource } from "../../api/hooks";
import type { Me, RunApproval, Verb } from "../../api/types";
import { when } from "../../lib/format";
import { renderMarkdown } from "../../lib/markdown";
import { href } from "../../lib/route";
import { can } from "../../lib/roles";
import { ErrorLine, Page, button, input, primary } from "../../ui";

const key = (a: RunApproval) => `${a.run_id}/${a.step}`;

export function newestFirst(items: RunApproval[]): RunApproval[] {
  return [...items].sort((a, b) => (b.requested_at ?? "").localeCompare(a.requested_at ?? ""));
}

export function Approvals({ me, runFilter }: { me: Me; runFilter: string | null }) {
  const list = useResource(() => api.approvals(), []);
  useInterval(list.reload, 3000);
  const items = newestFirst((list.data?.items ?? []).filter((a) => !runFilter || a.run_id === runFilter));
  const [selectedKey, setSelectedKey] = useState<string>();
  const [checked, setChecked] = useState<Set<string>>(new Set());
  const [bulkError, setBulkError] = useState<Error>();
  // what was last sent, kept here: the decided item leaves the list (and its panel) at the next reload
  const [sent, setSent] = useState<string>();
  const selected = items.find((a) => key(a) === selectedKey) ?? items[0];
  const approvable = items.filter((a) => a.kind === "approval" && can.decide(me, a.role));

  const toggle = (k: string) => setChecked((prev) => {
    const next = new Set(prev);
    if (next.has(k)) next.delete(k); else next.add(k);
    return next;
  });

  const bulk = async () => {
    setBulkError(undefined);
    const chosen = approvable.filter((a) => checked.has(key(a))).map((a) => ({ run_id: a.run_id, step: a.step }));
    try {
      // always 200: each item says what its own decision answered
      const answer = await api.bulkApprove(chosen);
      const refused = answer.items.filter((i) => i.status !== 200);
      setSent(`${answer.decided} approved`);
      if (refused.length > 0)
        setBulkError(new Error(refused.map((r) => `${r.step} of ${r.run_id}: ${r.detail ?? `HTTP ${r.status}`}`).join("; ")));
      setChecked(new Set());
      list.reload();
    } catch (err) { setBulkError(err as Error); }
  };

  return (
    <Page title="Approvals" actions={
      <button type="button" className={button} onClick={bulk}
              disabled={!approvable.some((a) => checked.has(key(a)))}>Approve selected</button>
    }>
      {runFilter && <p className="mb-2 text-sm">Showing run <span className="font-mono">{runFilter}</span> · <a className="text-blue-700 underline" href="#/approvals">show all</a></p>}
      <ErrorLine error={list.error ?? bulkError} />
      {sent && <p role="status" className="mb-2 text-sm text-green-700">{sent}</p>}
      <div className="grid grid-cols-1 gap-4 lg:grid-cols-3">
        <ul aria-label="Waiting" className="space-y-2">
          {items.length === 0 && !list.loading && <li className="text-sm text-slate-500">Nothing waits for a decision.</li>}
          {items.map((a) => (
            <li key={key(a)} className={`flex items-start gap-2 rounded bg-white p-2 shadow-sm ${a === selected ? "ring-2 ring-blue-500" : ""}`}>
              {a.kind === "approval" && (
                <input type="checkbox" aria-label={`Select ${a.step} of ${a.run_id}`} checked={checked.has(key(a))}
                       disabled={!can.decide(me, a.role)} onChange={() => toggle(key(a))} className="mt-1" />
              )}
              <button type="button" className="flex-1 text-left text-sm" onClick={() => setSelectedKey(key(a))}
                      aria-label={`Open ${a.step} of ${a.run_id}`}>
                <span className="font-medium">{label(a)}</span>
                <span className="block text-xs text-slate-500">{a.workflow_id} · run {a.run_id} · {when(a.requested_at)}</span>
              </button>
            </li>
          ))}
        </ul>
        <div className="lg:col-span-2">
          {selected && <Decide key={`${key(selected)}/${selected.version ?? ""}`} item={selected} me={me}
                                onDone={(what) => { setBulkError(undefined); setSent(what); list.reload(); }} />}
        </div>
      </div>
    </Page>
  );
}

function label(a: RunApproval): string {
  if (a.kind === "approval") return `${String(a.artifact)} v${a.version ?? "?"} by ${a.agent ?? "?"}`;
  if (a.kind === "route") return `Choose a route: ${a.question ?? a.step}`;
  if (a.kind === "budget") return `Budget pause: ${a.question ?? a.step}`;
  return `${a.question ?? a.step}?`;
}

function Question({ item }: { item: RunApproval }) {
  const name = <code className="font-mono">{item.question ?? item.step}</code>;
  if (item.kind === "condition")
    return <p>Is {name} true for this run? <span className="text-slate-500">Yes runs step {item.step}; No skips it.</span></p>;
  if (item.kind === "route") return <p>Which way does the run go at {name}?</p>;
  return <p>{name}</p>;
}

function Decide({ item, me, onDone }: { item: RunApproval; me: Me; onDone: (sent: string) => void }) {
  const allowed = can.decide(me, item.role);
  const artifact = typeof item.artifact === "string" ? item.artifact : null;
  const doc = useResource(
    () => (artifact && item.version ? api.raw(item.run_id, artifact, item.version) : Promise.resolve("")),
    [item.run_id, artifact, item.version],
  );
  const [comment, setComment] = useState("");
  const [amending, setAmending] = useState<string | null>(null);
  const [budget, setBudget] = useState("");
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);

  const send = async (decision: Verb, extra: { content?: string; choice?: string } = {}) => {
    setBusy(true);
    setError(undefined);
    try {
      await api.decide(item.run_id, item.step, { decision, comment, ...extra });
      setDone(true);
      onDone(`${decision} sent`);
    } catch (err) { setError(err as Error); } finally { setBusy(false); }
  };
  const off = !allowed || busy || done;

  return (
    <section aria-label="Decision" className="grid grid-cols-1 gap-3 xl:grid-cols-3">
      <article className="doc max-h-[70vh] overflow-auto rounded bg-white p-4 shadow-sm xl:col-span-2" aria-label="Document to review">
        {artifact ? <>
          <p className="mb-2 text-xs text-slate-500">
            <a className="text-blue-700 underline" href={href("runs", item.run_id, "documents", artifact)}>{artifact}</a> version {item.version}
          </p>
          {amending !== null
            ? <textarea aria-label="Document" className={`${input} h-96 w-full font-mono`} value={amending} onChange={(e) => setAmending(e.target.value)} />
            : <div dangerouslySetInnerHTML={{ __html: renderMarkdown(doc.data ?? "") }} />}
        </> : <Question item={item} />}
      </article>
      <div className="space-y-3 rounded bg-white p-3 shadow-sm">
        <p className="text-sm"><span className="font-mono">{item.step}</span>{item.role ? ` · role ${item.role}` : ""}</p>
        {!allowed && <p className="text-xs text-slate-500">Your roles ({me.roles.join(", ")}) may not decide this.</p>}
        <label className="block text-sm font-medium" htmlFor="comment">Comment</label>
        <textarea id="comment" className={`${input} h-24 w-full`} value={comment} disabled={!allowed} onChange={(e) => setComment(e.target.value)} />
        <div className="flex flex-wrap gap-2">
          {item.kind === "approval" && <>
            <button type="button" className={primary} disabled={off} onClick={() => send("approve")}>Approve</button>
            <button type="button" className={button} disabled={off || !comment.trim()} title="feedback from the comment" onClick={() => send("reject")}>Reject</button>
            {amending === null
              ? <button type="button" className={button} disabled={off || doc.data === undefined} title="edit the document; the edit becomes its next version" onClick={() => setAmending(doc.data ?? "")}>Amend</button>
              : <button type="button" className={button} disabled={off || !amending.trim()} onClick={() => send("amend", { content: amending })}>Save amendment</button>}
          </>}
          {item.kind === "condition" && <>
            <button type="button" className={primary} disabled={off} onClick={() => send("yes")}>Yes</button>
            <button type="button" className={button} disabled={off} onClick={() => send("no")}>No</button>
          </>}
          {item.kind === "route" && (item.choices ?? []).map((c) => (
            <button key={c} type="button" className={button} disabled={off} onClick={() => send("choose", { choice: c })}>{c}</button>
          ))}
          {item.kind === "budget" && <>
            <input aria-label="New budget" className={input} value={budget} disabled={!allowed} onChange={(e) => setBudget(e.target.value)} placeholder="e.g. 2.50" />
            <button type="button" className={primary} disabled={off || !budget.trim()} onClick={() => send("raise", { choice: budget.trim() })}>Raise</button>
            <button type="button" className={button} disabled={off} onClick={() => send("stop")}>Stop</button>
          </>}
        </div>
        <ErrorLine error={error} />
      </div>
    </section>
  );
}
