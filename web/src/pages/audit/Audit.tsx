// The audit log (admins): who did what to which target, when, with the outcome.
import { useState } from "react";
import { api } from "../../api/client";
import { useResource } from "../../api/hooks";
import type { AuditEntry, Me } from "../../api/types";
import { can } from "../../lib/roles";
import { ErrorLine, Page, input, td, th } from "../../ui";

const COLUMNS = ["at", "user", "roles", "action", "target", "outcome", "status", "request_id"];

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function Audit({ me }: { me: Me }) {
  const [actor, setActor] = useState("");
  const [action, setAction] = useState("");
  const log = useResource(() => (can.audit(me) ? api.audit({ user: actor || undefined, action: action || undefined })
    : Promise.resolve([])), [actor, action]);
  const rows: AuditEntry[] = Array.isArray(log.data) ? log.data : (log.data?.items ?? []);
  const columns = rows[0] ? [...new Set([...COLUMNS.filter((c) => c in rows[0]!), ...Object.keys(rows[0])])] : COLUMNS;

  if (!can.audit(me)) return <Page title="Audit"><p>The audit log is for admins.</p></Page>;
  return (
    <Page title="Audit">
      <div className="mb-3 flex gap-3" role="search">
        <label className="text-sm">User <input aria-label="User" className={input} value={actor} onChange={(e) => setActor(e.target.value)} /></label>
        <label className="text-sm">Action <input aria-label="Action" className={input} value={action} onChange={(e) => setAction(e.target.value)} /></label>
      </div>
      <ErrorLine error={log.error} />
      <table className="w-full bg-white shadow-sm" aria-label="Audit log">
        <thead><tr>{columns.map((c) => <th key={c} className={th}>{c}</th>)}</tr></thead>
        <tbody>{rows.map((r, i) => <tr key={i}>{columns.map((c) => <td key={c} className={td}>{cell(r[c])}</td>)}</tr>)}</tbody>
      </table>
    </Page>
  );
}
