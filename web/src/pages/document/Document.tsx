// A document of a run: rendered Markdown, its versions, a diff between any two, download.
import { useEffect, useState } from "react";
import { api } from "../../api/client";
import { useResource } from "../../api/hooks";
import { diffStats, lineDiff } from "../../lib/diff";
import { when } from "../../lib/format";
import { renderMarkdown } from "../../lib/markdown";
import { href } from "../../lib/route";
import { ErrorLine, Page, button, input } from "../../ui";

export function Document({ runId, name, params }: { runId: string; name: string; params: URLSearchParams }) {
  const detail = useResource(() => api.artifact(runId, name), [runId, name]);
  const versions = detail.data?.versions ?? [];
  const last = versions.at(-1)?.version ?? 0;
  const [shown, setShown] = useState<number>(Number(params.get("v")) || 0);
  const version = shown || last;
  const [from, setFrom] = useState(0);
  const [to, setTo] = useState(0);
  const [diffing, setDiffing] = useState(false);
  useEffect(() => { if (last && !from) { setFrom(Math.max(1, last - 1)); setTo(last); } }, [last, from]);

  const text = useResource(() => (version ? api.raw(runId, name, version) : Promise.resolve("")), [runId, name, version]);
  const before = useResource(() => (diffing && from ? api.raw(runId, name, from) : Promise.resolve("")), [diffing, from]);
  const after = useResource(() => (diffing && to ? api.raw(runId, name, to) : Promise.resolve("")), [diffing, to]);
  const isMarkdown = /\.(md|markdown)$/i.test(name);

  return (
    <Page title={name} actions={<>
      <a className={button} href={href("runs", runId)}>Back to run</a>
      {version > 0 && <a className={button} href={api.rawUrl(runId, name, version)} download={name.split("/").pop()}>Download</a>}
    </>}>
      <ErrorLine error={detail.error ?? text.error} />
      <div className="mb-3 flex flex-wrap items-center gap-2" role="group" aria-label="Versions">
        <span className="text-sm font-medium">Versions:</span>
        {versions.map((v) => (
          <button key={v.version} type="button" aria-pressed={v.version === version} onClick={() => { setShown(v.version); setDiffing(false); }}
                  className={`${button} ${v.version === version && !diffing ? "bg-blue-100" : ""}`}
                  title={`${v.step} · ${when(v.created_at)} · ${v.bytes} bytes`}>
            {`Version ${v.version}`}
          </button>
        ))}
      </div>
      {versions.length > 1 && (
        <div className="mb-3 flex items-center gap-2 text-sm">
          <label>From version{" "}
            <select aria-label="From version" className={input} value={from} onChange={(e) => setFrom(Number(e.target.value))}>
              {versions.map((v) => <option key={v.version} value={v.version}>{v.version}</option>)}
            </select>
          </label>
          <label>To version{" "}
            <select aria-label="To version" className={input} value={to} onChange={(e) => setTo(Number(e.target.value))}>
              {versions.map((v) => <option key={v.version} value={v.version}>{v.version}</option>)}
            </select>
          </label>
          <button type="button" className={button} onClick={() => setDiffing(true)}>Compare</button>
        </div>
      )}
      {diffing ? <Diff before={before.data} after={after.data} from={from} to={to} />
        : <article className="doc rounded bg-white p-4 shadow-sm" aria-label="Document">
            {isMarkdown ? <div dangerouslySetInnerHTML={{ __html: renderMarkdown(text.data ?? "") }} />
              : <pre className="whitespace-pre-wrap">{text.data}</pre>}
          </article>}
    </Page>
  );
}

export function Diff({ before, after, from, to }: { before?: string; after?: string; from: number; to: number }) {
  if (before === undefined || after === undefined) return <p className="text-sm text-slate-500">Loading…</p>;
  const lines = lineDiff(before, after);
  const { added, removed } = diffStats(lines);
  return (
    <section aria-label="Diff" className="rounded bg-white p-3 shadow-sm">
      <p className="mb-2 text-sm text-slate-600">Version {from} → version {to}: {added} lines added, {removed} removed</p>
      <pre className="overflow-x-auto text-sm">
        {lines.map((l, i) => (
          <div key={i} className={l.kind === "added" ? "diff-add" : l.kind === "removed" ? "diff-del" : ""}>
            {l.kind === "added" ? "+ " : l.kind === "removed" ? "- " : "  "}{l.text}
          </div>
        ))}
      </pre>
    </section>
  );
}
