// The typed API client: one fetch wrapper (same origin, session cookie, CSRF header on mutations, problem+json
// errors) and one function per operation. Every path used here is listed in paths.json.
import type {
  ApprovalList, ArtifactDetail, ArtifactSummary, AuditEntry, AuthConfig, BulkAnswer, DailyUsageList, DecisionBody, Me,
  Paused, RerunCreate, RerunCreated, RunCreate, RunCreated, RunDetail, RunPage, RunUsage, WorkflowInputs,
  WorkflowListItem,
} from "./types";

export const CSRF_COOKIE = "botarmy_csrf";
export const CSRF_HEADER = "X-CSRF-Token";

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly body: unknown = null) {
    super(message);
    this.name = "ApiError";
  }
}

export function readCookie(name: string, cookies: string = document.cookie): string | null {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

/** `/runs/{run_id}` with each `{name}` replaced by its encoded value (path segments of a name keep their `/`). */
export function fillPath(template: string, params: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined) throw new Error(`no value for {${key}} in ${template}`);
    return String(value).split("/").map(encodeURIComponent).join("/");
  });
}

function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export function problemText(status: number, body: unknown): string {
  if (body && typeof body === "object") {
    const b = body as { detail?: unknown; title?: unknown };
    if (typeof b.detail === "string") return b.detail;
    if (Array.isArray(b.detail)) return b.detail.map((d) => (d as { msg?: string }).msg ?? String(d)).join("; ");
    if (typeof b.title === "string") return b.title;
  }
  return `HTTP ${status}`;
}

type Method = "GET" | "POST" | "PUT" | "DELETE";

export async function request<T>(method: Method, path: string, body?: unknown, raw = false): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET") {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers[CSRF_HEADER] = csrf;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let parsed: unknown = null;
    try { parsed = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, problemText(response.status, parsed), parsed);
  }
  if (raw) return (await response.text()) as T;
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const api = {
  me: () => request<Me>("GET", "/auth/me"),
  authConfig: () => request<AuthConfig>("GET", "/auth/config"),
  signIn: (token: string) => request<Me>("POST", "/auth/session", { token }),
  signOut: () => request<void>("DELETE", "/auth/session"),

  runs: (filters: { status?: string; workflow?: string; limit?: number; offset?: number } = {}) =>
    request<RunPage>("GET", `/runs${query(filters)}`),
  run: (runId: string) => request<RunDetail>("GET", fillPath("/runs/{run_id}", { run_id: runId })),
  startRun: (body: RunCreate) => request<RunCreated>("POST", "/runs", body),
  cancelRun: (runId: string) => request<unknown>("POST", fillPath("/runs/{run_id}/cancel", { run_id: runId })),
  /** A new run linked to this one: from `from_step` (earlier steps carried over), or a retry without it. */
  rerun: (runId: string, body: RerunCreate = {}) =>
    request<RerunCreated>("POST", fillPath("/runs/{run_id}/rerun", { run_id: runId }), body),
  pauseRun: (runId: string) => request<Paused>("POST", fillPath("/runs/{run_id}/pause", { run_id: runId })),
  resumeRun: (runId: string) => request<Paused>("POST", fillPath("/runs/{run_id}/resume", { run_id: runId })),
  runUsage: (runId: string) => request<RunUsage>("GET", fillPath("/runs/{run_id}/usage", { run_id: runId })),
  eventsUrl: (runId: string) => fillPath("/runs/{run_id}/events", { run_id: runId }),

  artifacts: (runId: string) =>
    request<{ run_id: string; items: ArtifactSummary[] }>("GET", fillPath("/runs/{run_id}/artifacts", { run_id: runId })),
  artifact: (runId: string, name: string) =>
    request<ArtifactDetail>("GET", fillPath("/runs/{run_id}/artifacts/{name}", { run_id: runId, name })),
  rawUrl: (runId: string, name: string, version: number) =>
    fillPath("/runs/{run_id}/artifacts/{name}/versions/{version}/raw", { run_id: runId, name, version }),
  raw: (runId: string, name: string, version: number) =>
    request<string>("GET", api.rawUrl(runId, name, version), undefined, true),
  zipUrl: (runId: string) => fillPath("/runs/{run_id}/artifacts.zip", { run_id: runId }),

  approvals: () => request<ApprovalList>("GET", "/approvals"),
  decide: (runId: string, step: string, body: DecisionBody) =>
    request<unknown>("POST", fillPath("/runs/{run_id}/approvals/{step}", { run_id: runId, step }), body),
  /** Approve several waiting steps at once; each is decided (and audited) on its own by the server. */
  bulkApprove: (items: { run_id: string; step: string }[], comment = ""): Promise<BulkAnswer> =>
    request<BulkAnswer>("POST", "/approvals/bulk", { items: items.map((i) => ({ ...i, decision: "approve", comment })) }),

  workflows: () => request<WorkflowListItem[]>("GET", "/catalog/workflows"),
  workflowInputs: (workflowId: string) =>
    request<WorkflowInputs>("GET", fillPath("/catalog/workflows/{workflow_id}/inputs", { workflow_id: workflowId })),

  dailyUsage: (since: string) => request<DailyUsageList>("GET", `/usage/daily${query({ since })}`),
  audit: (filters: Record<string, string | undefined> = {}) =>
    request<{ items: AuditEntry[] } | AuditEntry[]>("GET", `/audit${query(filters)}`),
};
