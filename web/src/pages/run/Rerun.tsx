// "Rerun from here" on a step of the Run page: a new run linked to this one from that step, with an optional
// document upload that replaces one of the run's documents (POST /runs/{id}/rerun `artifacts`).
import { useState } from "react";
import { api } from "../../api/client";
import type { RerunCreate, RunDetail, RunStep } from "../../api/types";
import { go, href } from "../../lib/route";
import { ErrorLine, button } from "../../ui";

/** The document the step most likely reads: the latest one an earlier step wrote, else the run's first. */
export function defaultDocument(run: RunDetail, step: RunStep): string {
  const earlier = run.steps.slice(0, run.steps.findIndex((s) => s.id === step.id)).map((s) => s.id);
  const written = run.artifacts.filter((a) => earlier.includes(a.step));
  return (written[written.length - 1] ?? run.artifacts[0])?.name ?? "";
}

export async function rerunBody(step: RunStep, document: string, file: File | null): Promise<RerunCreate> {
  const body: RerunCreate = { from_step: step.id };
  if (file && document) body.artifacts = { [document]: await file.text() };
  return body;
}

export function RerunFromHere({ run, step }: { run: RunDetail; step: RunStep }) {
  const [open, setOpen] = useState(false);
  const [document, setDocument] = useState(() => defaultDocument(run, step));
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const names = [...new Set(run.artifacts.map((a) => a.name))];

  const start = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const created = await api.rerun(run.run_id, await rerunBody(step, document, file));
      go(href("runs", created.run_id));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  if (!open) return <button type="button" className={`${button} text-xs`} onClick={() => setOpen(true)}>Rerun from here</button>;
  return (
    <form aria-label={`Rerun from ${step.id}`} className="mt-1 flex flex-wrap items-end gap-2 rounded bg-slate-50 p-2 text-xs"
      onSubmit={(e) => { e.preventDefault(); void start(); }}>
      <label className="flex flex-col">Document to replace
        <select value={document} onChange={(e) => setDocument(e.target.value)} className="border p-1">
          {names.map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
      </label>
      <label className="flex flex-col">Edited document (optional)
        <input type="file" accept=".md,.txt,.yaml,.yml,.json,text/*" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
      </label>
      <button type="submit" className={button} disabled={busy}>Start rerun</button>
      <button type="button" className={button} onClick={() => setOpen(false)}>Close</button>
      <ErrorLine error={error} />
    </form>
  );
}
