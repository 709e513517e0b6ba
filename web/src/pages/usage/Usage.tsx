// Cost and tokens per day, by workflow and by model, as SVG bar charts.
import { useState } from "react";
import { api } from "../../api/client";
import { useResource } from "../../api/hooks";
import type { DailyUsage } from "../../api/types";
import { tokens, usd } from "../../lib/format";
import { ErrorLine, Page, input } from "../../ui";

export function sumBy(items: DailyUsage[], key: (d: DailyUsage) => string): { label: string; cost: number; tokens: number }[] {
  const out = new Map<string, { label: string; cost: number; tokens: number }>();
  for (const d of items) {
    const k = key(d);
    const acc = out.get(k) ?? { label: k, cost: 0, tokens: 0 };
    acc.cost += d.cost_usd;
    acc.tokens += d.prompt_tokens + d.completion_tokens;
    out.set(k, acc);
  }
  return [...out.values()];
}

export function Usage() {
  const [days, setDays] = useState(30);
  const since = new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10) + "T00:00:00Z";
  const usage = useResource(() => api.dailyUsage(since), [since]);
  const items = usage.data?.items ?? [];
  const perDay = sumBy(items, (d) => d.day).sort((a, b) => a.label.localeCompare(b.label));
  const total = perDay.reduce((a, d) => ({ cost: a.cost + d.cost, tokens: a.tokens + d.tokens }), { cost: 0, tokens: 0 });

  return (
    <Page title="Usage" actions={
      <label className="text-sm">Days{" "}
        <select aria-label="Days" className={input} value={days} onChange={(e) => setDays(Number(e.target.value))}>
          {[7, 30, 90, 365].map((d) => <option key={d} value={d}>{d}</option>)}
        </select>
      </label>
    }>
      <ErrorLine error={usage.error} />
      <p className="mb-4 text-sm">Last {days} days: {usd(total.cost)} · {tokens(total.tokens)} tokens</p>
      <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
        <Chart title="Cost per day" rows={perDay} value={(r) => r.cost} show={usd} />
        <Chart title="Tokens per day" rows={perDay} value={(r) => r.tokens} show={tokens} />
        <Chart title="Cost by workflow" rows={sumBy(items, (d) => d.workflow)} value={(r) => r.cost} show={usd} />
        <Chart title="Tokens by model" rows={sumBy(items, (d) => `${d.provider}:${d.model}`)} value={(r) => r.tokens} show={tokens} />
      </div>
    </Page>
  );
}

type Row = { label: string; cost: number; tokens: number };

export function Chart({ title, rows, value, show }: { title: string; rows: Row[]; value: (r: Row) => number; show: (n: number) => string }) {
  const max = Math.max(1e-12, ...rows.map(value));
  const barH = 22;
  const height = Math.max(1, rows.length) * barH + 8;
  return (
    <figure className="rounded bg-white p-3 shadow-sm">
      <figcaption className="mb-2 font-semibold">{title}</figcaption>
      {rows.length === 0 ? <p className="text-sm text-slate-500">No calls in this period.</p> : (
        <svg role="img" aria-label={title} viewBox={`0 0 600 ${height}`} className="w-full">
          {rows.map((r, i) => {
            const w = (value(r) / max) * 380;
            return (
              <g key={r.label} transform={`translate(0 ${i * barH + 4})`}>
                <text x="0" y="14" fontSize="12" fill="#334155">{r.label.length > 26 ? r.label.slice(0, 25) + "…" : r.label}</text>
                <rect x="170" y="2" width={w} height="16" fill="#1d4ed8" rx="2"><title>{`${r.label}: ${show(value(r))}`}</title></rect>
                <text x={176 + w} y="14" fontSize="12" fill="#0f172a">{show(value(r))}</text>
              </g>
            );
          })}
        </svg>
      )}
    </figure>
  );
}
