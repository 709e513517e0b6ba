// Start a run: a workflow from the catalog, a form generated from its run inputs, documents, approvals, budget.
import { useEffect, useState, type FormEvent } from "react";
import { api } from "../../api/client";
import { useResource } from "../../api/hooks";
import type { Me, RunCreate, RunInputSpec, WorkflowInputs } from "../../api/types";
import { go, href } from "../../lib/route";
import { can } from "../../lib/roles";
import { ErrorLine, Page, input, primary } from "../../ui";

type Values = Record<string, string | boolean>;

/** The request body for the form's values: only inputs that differ from their defaults are sent. */
export function buildRequest(
  spec: WorkflowInputs, values: Values, docs: Record<string, string>, approve: Set<string>,
  budgetUsd: string, budgetTokens: string,
): RunCreate {
  const inputs: Record<string, unknown> = {};
  for (const i of spec.inputs) {
    const v = values[i.name];
    if (v === undefined || v === "") continue;
    const value = i.kind === "count" ? Number(v) : v;
    if (value !== i.default) inputs[i.name] = value;
  }
  const body: RunCreate = {
    workflow: spec.workflow, inputs, artifacts: docs,
    approve: approve.size === 0 ? "none" : approve.size === spec.agents.length ? "all" : [...approve].sort(),
  };
  if (budgetUsd.trim()) body.budget_usd = Number(budgetUsd);
  if (budgetTokens.trim()) body.budget_tokens = Number(budgetTokens);
  return body;
}

function initial(spec: WorkflowInputs): Values {
  const v: Values = {};
  for (const i of spec.inputs) {
    if (i.kind === "condition") v[i.name] = Boolean(i.default);
    else v[i.name] = i.default === null || i.default === undefined ? "" : String(i.default);
  }
  return v;
}

export function NewRun({ me, preset }: { me: Me; preset: string | null }) {
  const workflows = useResource(() => api.workflows(), []);
  const [workflow, setWorkflow] = useState(preset ?? "");
  const spec = useResource(() => (workflow ? api.workflowInputs(workflow) : Promise.resolve(undefined)), [workflow]);
  const [values, setValues] = useState<Values>({});
  const [docs, setDocs] = useState<Record<string, string>>({});
  const [approve, setApprove] = useState<Set<string>>(new Set());
  const [budgetUsd, setBudgetUsd] = useState("");
  const [budgetTokens, setBudgetTokens] = useState("");
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!spec.data) return;
    setValues(initial(spec.data));
    setDocs({});
    setApprove(new Set());
    setBudgetUsd(spec.data.budget_usd ? String(spec.data.budget_usd) : "");
    setBudgetTokens(spec.data.budget_tokens ? String(spec.data.budget_tokens) : "");
  }, [spec.data]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!spec.data) return;
    setBusy(true);
    setError(undefined);
    try {
      const created = await api.startRun(buildRequest(spec.data, values, docs, approve, budgetUsd, budgetTokens));
      go(href("runs", created.run_id));
    } catch (err) { setError(err as Error); } finally { setBusy(false); }
  };

  const upload = async (name: string, file: File | undefined) => {
    if (!file) return;
    const text = await file.text();
    setDocs((d) => ({ ...d, [name]: text }));
  };

  return (
    <Page title="New run">
      <form onSubmit={submit} className="max-w-3xl space-y-4 rounded bg-white p-4 shadow-sm">
        <label className="block text-sm font-medium">Workflow{" "}
          <select aria-label="Workflow" className={`${input} ml-2`} value={workflow} onChange={(e) => setWorkflow(e.target.value)}>
            <option value="">choose…</option>
            {(workflows.data ?? []).map((w) => <option key={w.id} value={w.id}>{w.name ? `${w.id} — ${w.name}` : w.id}</option>)}
          </select>
        </label>
        {spec.data && <>
          <fieldset className="space-y-2">
            <legend className="font-semibold">Run inputs</legend>
            {spec.data.inputs.map((i) => (
              <Field key={i.name} spec={i} value={values[i.name]} onChange={(v) => setValues((old) => ({ ...old, [i.name]: v }))} />
            ))}
          </fieldset>
          {spec.data.documents.length > 0 && (
            <fieldset className="space-y-2">
              <legend className="font-semibold">External documents</legend>
              {spec.data.documents.map((d) => (
                <label key={d} className="block text-sm">{d}{" "}
                  <input type="file" aria-label={`Upload ${d}`} onChange={(e) => upload(d, e.target.files?.[0])} />
                  {docs[d] !== undefined && <span className="ml-2 text-xs text-green-700">{docs[d]!.length} characters</span>}
                </label>
              ))}
            </fieldset>
          )}
          <fieldset>
            <legend className="font-semibold">Agents whose outputs wait for approval</legend>
            <div className="flex flex-wrap gap-3">
              {spec.data.agents.map((a) => (
                <label key={a} className="text-sm">
                  <input type="checkbox" checked={approve.has(a)} onChange={() => setApprove((s) => {
                    const n = new Set(s);
                    if (n.has(a)) n.delete(a); else n.add(a);
                    return n;
                  })} /> {`Approve ${a}`}
                </label>
              ))}
            </div>
          </fieldset>
          <fieldset className="flex gap-4">
            <legend className="font-semibold">Budget</legend>
            <label className="text-sm">Budget (USD){" "}
              <input aria-label="Budget (USD)" inputMode="decimal" className={input} value={budgetUsd} onChange={(e) => setBudgetUsd(e.target.value)} />
            </label>
            <label className="text-sm">Budget (tokens){" "}
              <input aria-label="Budget (tokens)" inputMode="numeric" className={input} value={budgetTokens} onChange={(e) => setBudgetTokens(e.target.value)} />
            </label>
          </fieldset>
        </>}
        <ErrorLine error={workflows.error ?? spec.error ?? error} />
        {!can.start(me) && <p className="text-sm text-slate-500">Starting runs needs the operator role.</p>}
        <button type="submit" className={primary} disabled={!spec.data || busy || !can.start(me)}>Start run</button>
      </form>
    </Page>
  );
}

function Field({ spec, value, onChange }: { spec: RunInputSpec; value: string | boolean | undefined; onChange: (v: string | boolean) => void }) {
  if (spec.kind === "condition")
    return <label className="block text-sm"><input type="checkbox" checked={Boolean(value)} onChange={(e) => onChange(e.target.checked)} /> {spec.name}</label>;
  if (spec.kind === "route")
    return (
      <label className="block text-sm">{spec.name}{" "}
        <select aria-label={spec.name} className={input} value={String(value ?? "")} onChange={(e) => onChange(e.target.value)}>
          <option value="">(ask when reached)</option>
          {spec.choices.map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
      </label>
    );
  return (
    <label className="block text-sm">{spec.name}{" "}
      <input aria-label={spec.name} className={input} type={spec.kind === "count" ? "number" : "text"} min={0}
             value={String(value ?? "")} onChange={(e) => onChange(e.target.value)} />
      {spec.kind === "count" && <span className="ml-2 text-xs text-slate-500">repeat count</span>}
    </label>
  );
}
