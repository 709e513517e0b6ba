"""What in a v4 file the engine cannot act on: each becomes a warning that says what is ignored and why.

Nothing is dropped silently, and none of it is an error: these keys serve people and IDEs, not runs.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap

from bmad.diagnostics import Diagnostic
from bmad.yamlsrc import Located

_WORKFLOW_KEYS = {
    "flow_diagram": "it draws the flow for people; the engine runs 'sequence'",
    "decision_guidance": "it helps people choose a workflow; the engine runs the workflow it is given",
    "project_types": "it describes the workflow; nothing in a run depends on it",
}
_AGENT_KEYS = {
    "commands": "they are an IDE user's interactive commands; a step runs the agent on the step's task",
    "activation-instructions": "they tell an IDE how to activate the agent; BotArmy builds the system message "
                               "from 'agent' and 'persona'",
    "IDE-FILE-RESOLUTION": "it tells an IDE where dependency files are; BotArmy loads them from the folder",
    "REQUEST-RESOLUTION": "it maps chat requests to commands; steps are not chat requests",
}


def workflow_ignored(wf: CommentedMap, where: Located) -> list[Diagnostic]:
    out = [where.diag(where.key(wf, k), f"'{k}' is ignored: {why}", "warning")
           for k, why in _WORKFLOW_KEYS.items() if k in wf]
    prompts = wf.get("handoff_prompts")
    if isinstance(prompts, CommentedMap):
        out += [
            where.diag(where.key(prompts, k), f"handoff prompt '{k}' is ignored: only keys named "
                       "'<previous agent>_to_<this agent>' are given to a step", "warning")
            for k in prompts if "_to_" not in str(k)
        ]
    return out


def agent_ignored(doc: CommentedMap, where: Located) -> list[Diagnostic]:
    return [where.diag(where.key(doc, k), f"'{k}' is ignored: {why}", "warning")
            for k, why in _AGENT_KEYS.items() if k in doc]


def _elicit_count(sections: Any) -> int:
    if not isinstance(sections, list):
        return 0
    return sum((1 if isinstance(s, dict) and s.get("elicit") is True else 0)
               + _elicit_count(s.get("sections") if isinstance(s, dict) else None) for s in sections)


def template_ignored(doc: CommentedMap, where: Located) -> list[Diagnostic]:
    out = []
    flow = doc.get("workflow")
    if isinstance(flow, CommentedMap) and ("elicitation" in flow or flow.get("mode") == "interactive"):
        out.append(where.diag(where.key(doc, "workflow"), "'workflow' (interactive mode, elicitation) is ignored: "
                              "a run does not stop to ask; add 'approval:' to the step to have a person review "
                              "the document", "warning"))
    count = _elicit_count(doc.get("sections"))
    if count:
        out.append(where.diag(where.key(doc, "sections"), f"'elicit: true' on {count} section(s) is ignored: a run "
                              "does not stop to elicit; use the step's 'approval:' for a person's review", "warning"))
    return out
