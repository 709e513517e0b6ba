// Shapes of the API's bodies (api/schemas.py, botarmy/runview.py, api/routes/*.py); the paths are in paths.json.

export type Role = "viewer" | "operator" | "approver" | "admin";

export interface Me {
  name: string;
  roles: Role[];
}

/** GET /auth/config: how one signs in here (a token always; the identity provider when `oidc`). */
export interface AuthConfig {
  oidc: boolean;
  oidc_login_url: string | null;
}

/** POST /approvals/bulk: always 200, each item with the status its own decision answered. */
export interface BulkAnswer {
  decided: number;
  refused: number;
  items: { run_id: string; step: string; status: number; result?: unknown; detail?: string | null }[];
}

export interface RunSummary {
  run_id: string;
  workflow_id: string;
  temporal_workflow_id: string;
  status: string;
  definition_hash: string;
  inputs: Record<string, unknown>;
  error: string | null;
  created_at: string | null;
  finished_at: string | null;
  web_ui: string | null;
  model: string | null;
}

export interface RunPage {
  items: RunSummary[];
  limit: number;
  offset: number;
  next_offset: number | null;
}

export interface RunStep {
  id: string;
  step: string;
  iteration: number | null;
  agent: string | null;
  status: string;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  provider: string | null;
  model: string | null;
}

export interface UsageTotalsObject {
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  calls: number;
}

/** A run's decisions: a person's (`decision`, `by`), or the interpreter's record of what a condition or route came
 * to (`condition`, `value`, `choice`, `source` such as "decided by ada", "input" or "default"). */
export interface Decision {
  step: string;
  kind?: string;
  decision?: string;
  condition?: string;
  value?: boolean;
  choice?: string | null;
  comment?: string;
  by?: string;
  role?: string | null;
  at?: string;
  source?: string;
  artifact?: string | null;
  version?: number | null;
}

export interface PendingApproval {
  step: string;
  agent: string | null;
  artifact: unknown;
  requested_at: string | null;
  kind: string;
  version: number | null;
  question: string | null;
  role: string | null;
  timeout_at: string | null;
}

export interface RunDetail extends RunSummary {
  decisions: Decision[];
  steps: RunStep[];
  artifacts: { name: string; version: number; step: string; sha256: string; bytes: number }[];
  usage: UsageTotalsObject;
  pending_approvals: PendingApproval[] | null;
  /** a rerun: the run it was forked from and the step it reran from */
  parent_run_id?: string | null;
  rerun_from?: string | null;
  /** who paused the run (POST /runs/{id}/pause), and the step it holds before; null when not paused */
  paused?: string | null;
  paused_before?: string | null;
}

/** POST /runs/{id}/rerun (api/routes/reruns.py): no from_step retries a failed, cancelled or stopped run. */
export interface RerunCreate {
  from_step?: string;
  artifacts?: Record<string, string>;
  inputs?: Record<string, unknown>;
}

export interface RerunCreated extends RunCreated {
  parent_run_id: string;
  rerun_from: string;
  carried: string[];
  changed: string[];
}

/** POST /runs/{id}/pause and /resume (api/routes/pauses.py). */
export interface Paused {
  run_id: string;
  paused: boolean;
  by: string;
  before: string | null;
}

export interface RunCreate {
  reuse?: boolean;
  workflow: string;
  inputs: Record<string, unknown>;
  approve: "all" | "none" | string[];
  artifacts: Record<string, string>;
  budget_usd?: number;
  budget_tokens?: number;
}

export interface RunCreated {
  run_id: string;
  workflow_id: string;
  temporal_workflow_id: string;
  web_ui: string;
}

export interface Totals {
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  calls: number;
  unpriced_calls: number;
}

export interface Group extends Totals {
  step: string | null;
  provider: string | null;
  model: string | null;
}

export interface RunUsage {
  run_id: string;
  totals: Totals;
  by_step: Group[];
  by_model: Group[];
}

export interface ArtifactSummary {
  name: string;
  latest_version: number;
  versions: number;
  step: string;
  bytes: number;
  media_type: string;
  created_at: string;
}

export interface ArtifactVersion {
  version: number;
  step: string;
  sha256: string;
  bytes: number;
  media_type: string;
  created_at: string;
  raw_url: string;
}

export interface ArtifactDetail {
  run_id: string;
  name: string;
  versions: ArtifactVersion[];
}

export interface RunApproval extends PendingApproval {
  run_id: string;
  workflow_id: string;
  choices?: string[];
}

export interface ApprovalList {
  items: RunApproval[];
  unreachable: string[];
}

export type Verb = "approve" | "reject" | "amend" | "yes" | "no" | "choose" | "raise" | "stop";

export interface DecisionBody {
  decision: Verb;
  comment?: string;
  content?: string;
  choice?: string;
}

export interface WorkflowListItem {
  id: string;
  name: string;
  description: string;
  type: string;
  steps: number;
}

export type InputKind = "condition" | "count" | "route" | "text";

export interface RunInputSpec {
  name: string;
  kind: InputKind;
  default: unknown;
  choices: string[];
}

export interface WorkflowInputs {
  workflow: string;
  inputs: RunInputSpec[];
  documents: string[];
  agents: string[];
  budget_usd: number | null;
  budget_tokens: number | null;
}

export interface DailyUsage {
  day: string;
  workflow: string;
  provider: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  calls: number;
}

export interface DailyUsageList {
  since: string;
  items: DailyUsage[];
}

export interface AuditEntry {
  [key: string]: unknown;
}

export interface RunEvent {
  seq: number;
  type: string;
  data?: unknown;
  [key: string]: unknown;
}
