// Markdown to safe HTML: marked (GitHub-flavoured: tables, fenced code), then DOMPurify (a document is model
// output and may carry HTML: scripts, handlers and javascript: links are removed).
import { marked } from "marked";
import DOMPurify from "dompurify";

export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { gfm: true, async: false });
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });
}
