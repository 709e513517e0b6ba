import { describe, expect, it } from "vitest";
import { fillPath, problemText, readCookie } from "../api/client";
import { diffStats, lineDiff } from "./diff";
import { duration, usd } from "./format";
import { renderMarkdown } from "./markdown";
import { href, parseHash } from "./route";
import { can } from "./roles";

describe("hash routes", () => {
  it("reads a run's document route with its query", () => {
    const r = parseHash("#/runs/abc123/documents/docs%2Fprd.md?v=2");
    expect(r.page).toBe("runs");
    expect(r.parts).toEqual(["abc123", "documents", "docs/prd.md"]);
    expect(r.params.get("v")).toBe("2");
  });
  it("defaults to the runs page and round-trips href", () => {
    expect(parseHash("").page).toBe("runs");
    expect(parseHash(href("runs", "a b")).parts).toEqual(["a b"]);
  });
});

describe("the API client", () => {
  it("fills path templates, keeping a name's folders", () => {
    expect(fillPath("/runs/{run_id}/artifacts/{name}", { run_id: "r 1", name: "docs/prd v2.md" }))
      .toBe("/runs/r%201/artifacts/docs/prd%20v2.md");
    expect(() => fillPath("/runs/{run_id}")).toThrow(/run_id/);
  });
  it("reads the CSRF cookie among others", () => {
    expect(readCookie("botarmy_csrf", "a=1; botarmy_csrf=tok%3D; b=2")).toBe("tok=");
    expect(readCookie("botarmy_csrf", "a=1")).toBeNull();
  });
  it("says a problem's detail, else its title, else the status", () => {
    expect(problemText(409, { title: "Conflict", detail: "run r is completed" })).toBe("run r is completed");
    expect(problemText(422, { detail: [{ msg: "field required" }] })).toBe("field required");
    expect(problemText(500, null)).toBe("HTTP 500");
  });
});

describe("markdown", () => {
  it("renders tables and code", () => {
    const html = renderMarkdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n```py\nprint(1)\n```\n");
    expect(html).toContain("<table>");
    expect(html).toContain("<td>2</td>");
    expect(html).toMatch(/<pre><code class="language-py">print\(1\)/);
  });
  it("removes scripts, handlers and javascript: links", () => {
    const html = renderMarkdown('<script>alert(1)</script><img src=x onerror="alert(2)">\n\n[x](javascript:alert(3))');
    expect(html).toContain("<a>x</a>");
    expect(html).not.toMatch(/script|onerror|javascript:/);
  });
});

describe("diff", () => {
  it("marks added and removed lines", () => {
    const lines = lineDiff("a\nb\nc\n", "a\nB\nc\nd\n");
    expect(lines).toEqual([
      { kind: "same", text: "a" }, { kind: "removed", text: "b" }, { kind: "added", text: "B" },
      { kind: "same", text: "c" }, { kind: "added", text: "d" },
    ]);
    expect(diffStats(lines)).toEqual({ added: 2, removed: 1 });
  });
});

describe("format", () => {
  it("spells durations and costs", () => {
    expect(duration("2026-01-01T00:00:00Z", "2026-01-01T00:01:05Z")).toBe("1 min 5 s");
    expect(duration(null, null)).toBe("–");
    expect(usd(1.5)).toBe("$1.50");
    expect(usd(0.0012)).toBe("$0.0012");
  });
});

describe("roles", () => {
  const viewer = { name: "v", roles: ["viewer" as const] };
  const approver = { name: "a", roles: ["approver" as const] };
  const admin = { name: "x", roles: ["admin" as const] };
  it("lets approvers and admins decide, viewers not", () => {
    expect(can.decide(viewer)).toBe(false);
    expect(can.decide(approver)).toBe(true);
    expect(can.decide(admin, "architect")).toBe(true);
    expect(can.decide(approver, "architect")).toBe(false);
  });
  it("lets operators start and cancel; only admins read the audit log", () => {
    expect(can.start(approver)).toBe(false);
    expect(can.start({ name: "o", roles: ["operator"] })).toBe(true);
    expect(can.audit(approver)).toBe(false);
    expect(can.audit(admin)).toBe(true);
  });
});
