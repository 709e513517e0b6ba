// Small shared pieces: status badges, error lines, a page frame.
import type { ReactNode } from "react";

const STATUS_COLOURS: Record<string, string> = {
  running: "bg-blue-100 text-blue-800",
  completed: "bg-green-100 text-green-800",
  failed: "bg-red-100 text-red-800",
  cancelled: "bg-slate-200 text-slate-700",
  stopped: "bg-amber-100 text-amber-800",
  waiting: "bg-amber-100 text-amber-800",
  pending: "bg-slate-100 text-slate-600",
};

export function Status({ value }: { value: string }) {
  return (
    <span className={`inline-block rounded px-2 py-0.5 text-xs font-medium ${STATUS_COLOURS[value] ?? "bg-slate-100"}`}>
      {value}
    </span>
  );
}

export function ErrorLine({ error }: { error: Error | undefined | null }) {
  if (!error) return null;
  return <p role="alert" className="my-2 rounded bg-red-50 px-3 py-2 text-sm text-red-800">{error.message}</p>;
}

export function Page({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="mx-auto max-w-7xl p-4">
      <div className="mb-4 flex items-center justify-between gap-4">
        <h1 className="text-2xl font-semibold">{title}</h1>
        <div className="flex gap-2">{actions}</div>
      </div>
      {children}
    </section>
  );
}

export const button =
  "rounded px-3 py-1.5 text-sm font-medium border border-slate-300 bg-white hover:bg-slate-100 " +
  "disabled:cursor-not-allowed disabled:opacity-50";
export const primary =
  "rounded px-3 py-1.5 text-sm font-medium bg-blue-700 text-white hover:bg-blue-800 " +
  "disabled:cursor-not-allowed disabled:opacity-50";
export const input = "rounded border border-slate-300 px-2 py-1 text-sm";
export const th = "px-2 py-1 text-left text-xs font-semibold uppercase text-slate-500";
export const td = "px-2 py-1 text-sm border-t border-slate-200";
