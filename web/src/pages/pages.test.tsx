import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Approvals, newestFirst } from "./approvals/Approvals";
import { buildRequest } from "./newrun/NewRun";
import { SignIn } from "./signin/SignIn";
import { Run, decisionText } from "./run/Run";
import type { Me, RunApproval, RunDetail, RunStep, WorkflowInputs } from "../api/types";

function reply(body: unknown, status = 200): Response {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), {
    status, headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" },
  });
}

const waiting = (step: string, at: string): RunApproval => ({
  run_id: "r1", workflow_id: "quick-fix", step, agent: "pm", artifact: "prd.md", requested_at: at, kind: "approval",
  version: 1, question: null, role: null, timeout_at: null,
});

afterEach(() => vi.unstubAllGlobals());

describe("Sign in", () => {
  it("posts the token and hands back who signed in", async () => {
    const fetch = vi.fn(async () => reply({ name: "ada", roles: ["approver"] }));
    vi.stubGlobal("fetch", fetch);
    document.cookie = "botarmy_csrf=c1";
    const signedIn = vi.fn();
    render(<SignIn onSignedIn={signedIn} />);
    await userEvent.type(screen.getByRole("textbox", { name: "Token" }), "  tok-123 ");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(signedIn).toHaveBeenCalledWith({ name: "ada", roles: ["approver"] }));
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/auth/session");
    expect(JSON.parse(String(init.body))).toEqual({ token: "tok-123" });
    expect((init.headers as Record<string, string>)["X-CSRF-Token"]).toBe("c1");
  });
  it("shows the API's refusal", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => reply({ title: "Unauthorized", detail: "unknown or expired token" }, 401)));
    render(<SignIn onSignedIn={() => {}} />);
    await userEvent.type(screen.getByRole("textbox", { name: "Token" }), "bad");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveProperty("textContent", "unknown or expired token");
  });
  it("offers the identity provider's sign-in only when the API has one", async () => {
    const { unmount } = render(<SignIn onSignedIn={() => {}} />);
    expect(screen.queryByRole("button", { name: "Sign in with SSO" })).toBeNull();
    unmount();
    const assign = vi.fn();
    vi.stubGlobal("location", { ...window.location, assign });
    render(<SignIn onSignedIn={() => {}} ssoUrl="/auth/oidc/login" />);
    await userEvent.click(screen.getByRole("button", { name: "Sign in with SSO" }));
    expect(assign).toHaveBeenCalledWith("/auth/oidc/login");
  });
});

describe("Approvals", () => {
  it("lists newest first", () => {
    const items = newestFirst([waiting("a", "2026-01-01T00:00:00Z"), waiting("b", "2026-01-02T00:00:00Z")]);
    expect(items.map((i) => i.step)).toEqual(["b", "a"]);
  });
  it("gives a viewer the document with every decision button disabled", async () => {
    vi.stubGlobal("fetch", vi.fn(async (url: string) =>
      url === "/approvals" ? reply({ items: [waiting("01-pm-prd", "2026-01-01T00:00:00Z")], unreachable: [] })
        : reply("# PRD\n\nhello")));
    render(<Approvals me={{ name: "v", roles: ["viewer"] }} runFilter={null} />);
    expect(await screen.findByRole("heading", { name: "PRD" })).toBeTruthy();
    for (const name of ["Approve", "Reject", "Amend", "Approve selected"])
      expect((screen.getByRole("button", { name }) as HTMLButtonElement).disabled).toBe(true);
  });
  it("rejects with the comment as feedback", async () => {
    const fetch = vi.fn(async (url: string, _init?: RequestInit) =>
      url === "/approvals" ? reply({ items: [waiting("01-pm-prd", "2026-01-01T00:00:00Z")], unreachable: [] })
        : url.endsWith("/raw") ? reply("# PRD") : reply({ run_id: "r1", step: "01-pm-prd", result: {} }));
    vi.stubGlobal("fetch", fetch);
    render(<Approvals me={{ name: "a", roles: ["approver"] }} runFilter={null} />);
    await screen.findByRole("heading", { name: "PRD" });
    const reject = screen.getByRole("button", { name: "Reject" }) as HTMLButtonElement;
    expect(reject.disabled).toBe(true); // a rejection needs feedback
    await userEvent.type(screen.getByRole("textbox", { name: "Comment" }), "add a table");
    await userEvent.click(reject);
    await screen.findByText("reject sent");
    const call = fetch.mock.calls.find(([u]) => u === "/runs/r1/approvals/01-pm-prd")!;
    expect(JSON.parse(String(call[1]!.body))).toEqual({ decision: "reject", comment: "add a table" });
  });
  it("bulk-approves the selected steps and names the ones the server refused", async () => {
    const fetch = vi.fn(async (url: string, _init?: RequestInit) =>
      url === "/approvals"
        ? reply({ items: [waiting("a", "2026-01-01T00:00:00Z"), waiting("b", "2026-01-02T00:00:00Z")], unreachable: [] })
        : url === "/approvals/bulk"
          ? reply({ decided: 1, refused: 1, items: [{ run_id: "r1", step: "b", status: 200 },
            { run_id: "r1", step: "a", status: 409, detail: "a is no longer waiting" }] })
          : reply("# PRD"));
    vi.stubGlobal("fetch", fetch);
    render(<Approvals me={{ name: "a", roles: ["approver"] }} runFilter={null} />);
    await userEvent.click(await screen.findByRole("checkbox", { name: "Select a of r1" }));
    await userEvent.click(screen.getByRole("checkbox", { name: "Select b of r1" }));
    await userEvent.click(screen.getByRole("button", { name: "Approve selected" }));
    expect(await screen.findByRole("status")).toHaveProperty("textContent", "1 approved");
    expect((await screen.findByRole("alert")).textContent).toContain("a of r1: a is no longer waiting");
    const call = fetch.mock.calls.find(([u]) => u === "/approvals/bulk")!;
    expect(JSON.parse(String(call[1]!.body)).items.map((i: { step: string }) => i.step)).toEqual(["b", "a"]);
  });
});

describe("Run", () => {
  it("shows a person's decision and what a condition or route came to", () => {
    expect(decisionText({ step: "s", decision: "amend", by: "ada" })).toBe("amend");
    expect(decisionText({ step: "s", condition: "has_ui", value: false, source: "decided by ada" })).toBe("has_ui: no");
    expect(decisionText({ step: "s", condition: "path", value: true, choice: "fast" })).toBe("path: fast");
  });
});

describe("New run", () => {
  const spec: WorkflowInputs = {
    workflow: "w", documents: ["brief.md"], agents: ["pm", "qa"], budget_usd: null, budget_tokens: null,
    inputs: [
      { name: "for_each_epic", kind: "count", default: 1, choices: [] },
      { name: "has_ui", kind: "condition", default: false, choices: [] },
      { name: "project_name", kind: "text", default: null, choices: [] },
    ],
  };
  it("sends only what differs from the defaults, typed", () => {
    const body = buildRequest(spec, { for_each_epic: "2", has_ui: false, project_name: "Lunch" }, { "brief.md": "x" },
      new Set(["pm"]), "1.5", "");
    expect(body).toEqual({ workflow: "w", inputs: { for_each_epic: 2, project_name: "Lunch" },
      artifacts: { "brief.md": "x" }, approve: ["pm"], budget_usd: 1.5 });
    expect(buildRequest(spec, {}, {}, new Set(["pm", "qa"]), "", "").approve).toBe("all");
    expect(buildRequest(spec, {}, {}, new Set(), "", "").approve).toBe("none");
  });
});

describe("Run", () => {
  const step = (id: string, agent: string | null, status = "completed"): RunStep => ({
    id, step: id, iteration: null, agent, status, attempts: 1, started_at: null, finished_at: null, error: null,
    provider: null, model: null,
  });
  const run = (over: Partial<RunDetail> = {}): RunDetail => ({
    run_id: "r1", workflow_id: "quick-fix", temporal_workflow_id: "bmad-quick-fix-r1", status: "completed",
    definition_hash: "h", inputs: {}, error: null, created_at: null, finished_at: null, web_ui: null, model: null,
    decisions: [], pending_approvals: [], usage: { prompt_tokens: 0, completion_tokens: 0, cost_usd: 0, calls: 0 },
    steps: [step("01-pm-prd", "pm"), step("02-dev-notes", "dev"), step("03-qa-review", "qa")],
    artifacts: [{ name: "prd.md", version: 1, step: "01-pm-prd", sha256: "a", bytes: 3 },
      { name: "notes.md", version: 1, step: "02-dev-notes", sha256: "b", bytes: 3 }],
    ...over,
  });
  const operator: Me = { name: "olga", roles: ["operator"] };
  function serve(detail: RunDetail, created: Record<string, unknown> = { run_id: "r2" }) {
    const fetch = vi.fn(async (url: string, init?: RequestInit) => {
      if (init?.method === "POST") return reply({ ...created, parent_run_id: "r1", carried: [], changed: [] }, 201);
      return url.endsWith("/usage") ? reply({ by_step: [] }) : reply(detail);
    });
    vi.stubGlobal("fetch", fetch);
    return fetch;
  }
  const posted = (fetch: ReturnType<typeof vi.fn>) =>
    fetch.mock.calls.filter(([, init]) => (init as RequestInit | undefined)?.method === "POST")
      .map(([url, init]) => [url, (init as RequestInit).body ? JSON.parse(String((init as RequestInit).body)) : undefined]);

  it("reruns from a step with an uploaded document replacing the one before it, and opens the new run", async () => {
    const fetch = serve(run());
    render(<Run runId="r1" me={operator} />);
    const steps = await screen.findAllByTestId("step");
    await userEvent.click(within(steps[2]!).getByRole("button", { name: "Rerun from here" }));
    const form = screen.getByRole("form", { name: "Rerun from 03-qa-review" });
    expect((within(form).getByRole("combobox", { name: "Document to replace" }) as HTMLSelectElement).value).toBe("notes.md");
    await userEvent.upload(within(form).getByLabelText("Edited document (optional)"),
      new File(["# Notes\n\nEDITED\n"], "notes.md", { type: "text/markdown" }));
    await userEvent.click(within(form).getByRole("button", { name: "Start rerun" }));
    await waitFor(() => expect(window.location.hash).toBe("#/runs/r2"));
    expect(posted(fetch)).toEqual([
      ["/runs/r1/rerun", { from_step: "03-qa-review", artifacts: { "notes.md": "# Notes\n\nEDITED\n" } }]]);
  });
  it("retries a failed run with no from_step and opens the new run", async () => {
    const fetch = serve(run({ status: "failed", error: "key expired" }), { run_id: "r3" });
    render(<Run runId="r1" me={operator} />);
    await userEvent.click(await screen.findByRole("button", { name: "Retry" }));
    await waitFor(() => expect(window.location.hash).toBe("#/runs/r3"));
    expect(posted(fetch)).toEqual([["/runs/r1/rerun", {}]]);
  });
  it("offers no Retry on a completed run and no Rerun from here to a viewer", async () => {
    serve(run());
    const { unmount } = render(<Run runId="r1" me={operator} />);
    await screen.findAllByTestId("step");
    expect(screen.queryByRole("button", { name: "Retry" })).toBeNull();
    unmount();
    render(<Run runId="r1" me={{ name: "v", roles: ["viewer"] }} />);
    await screen.findAllByTestId("step");
    expect(screen.queryByRole("button", { name: "Rerun from here" })).toBeNull();
  });
  it("pauses a running run, and offers Resume with who paused it once it is paused", async () => {
    const fetch = serve(run({ status: "running" }));
    const { unmount } = render(<Run runId="r1" me={operator} />);
    await userEvent.click(await screen.findByRole("button", { name: "Pause" }));
    await waitFor(() => expect(posted(fetch)).toEqual([["/runs/r1/pause", undefined]]));
    expect(screen.queryByRole("button", { name: "Rerun from here" })).toBeNull();
    unmount();
    const again = serve(run({ status: "running", paused: "olga", paused_before: "02-dev-notes" }));
    render(<Run runId="r1" me={operator} />);
    expect((await screen.findByRole("status")).textContent).toBe("Paused by olga before 02-dev-notes");
    await userEvent.click(screen.getByRole("button", { name: "Resume" }));
    await waitFor(() => expect(posted(again)).toEqual([["/runs/r1/resume", undefined]]));
  });
});
