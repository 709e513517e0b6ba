"""A step's AutoGen conversation: one AssistantAgent, or a RoundRobinGroupChat of the personas of a composite
agent (`analyst/pm`), kept open so a corrective re-ask goes to the same conversation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import ChatAgent, TaskResult, Team
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.messages import BaseChatMessage
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.models import ChatCompletionClient

from bmad.plan import Plan, PlanStep

GENERIC_PERSONA = "You are a helpful member of a software delivery team."


@dataclass(frozen=True)
class Persona:
    name: str  # an identifier, as AutoGen requires
    system_message: str


@dataclass
class Answer:
    text: str  # the final document (the last agent message)
    finish_reason: str | None  # of the model call that wrote it
    transcript: list[tuple[str, str]] = field(default_factory=list)  # (source, text) of every message so far


def agent_name(agent: str | None) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in (agent or "agent"))
    return cleaned if cleaned[:1].isalpha() else f"agent_{cleaned}"


def personas(plan: Plan, step: PlanStep, stop_word: str) -> list[Persona]:
    """One persona per agent of the step; `various` (no agent ids) is one generic agent."""
    ids = [a for a in step.agents if a in plan.agents]
    if len(ids) < 2:
        message = "\n\n".join(plan.agents[a].system_message for a in ids) or GENERIC_PERSONA
        return [Persona(agent_name(ids[0] if ids else step.agent), message)]
    team = ", ".join(ids)
    note = (f"\n\nYou work in turns with {team} on one document. Each turn, reply with the complete document, "
            f"improved from your point of view. When you have nothing left to change, end your reply with "
            f"{stop_word} on a line of its own.")
    return [Persona(agent_name(a), plan.agents[a].system_message + note) for a in ids]


class StepConversation:
    """Runs the task, then (if asked) a follow-up in the same conversation; every model call goes to `client`."""

    def __init__(
        self, client: ChatCompletionClient, members: list[Persona], rounds: int = 2, stop_word: str = "APPROVED"
    ) -> None:
        self.client = client
        self.stop_word = stop_word
        self.transcript: list[tuple[str, str]] = []
        agents = [AssistantAgent(p.name, model_client=client, system_message=p.system_message) for p in members]
        self.names = [a.name for a in agents]
        self._single: AssistantAgent | None = agents[0] if len(agents) == 1 else None
        self._team: RoundRobinGroupChat | None = None
        if self._single is None:
            # bounded: `rounds` turns of every agent after the task, or earlier when one says the stop word
            said_it = TextMentionTermination(stop_word, sources=self.names)
            done = MaxMessageTermination(1 + rounds * len(agents)) | said_it
            self._team = RoundRobinGroupChat(list[ChatAgent | Team](agents), termination_condition=done)

    @property
    def composite(self) -> bool:
        return self._team is not None

    async def ask(self, task: str) -> Answer:
        runner = self._single if self._single is not None else self._team
        assert runner is not None
        result: TaskResult = await runner.run(task=task)
        said = [(m.source, m.to_text()) for m in result.messages if isinstance(m, BaseChatMessage)]
        self.transcript.extend(said)
        return Answer(self._final(said), self._finish_reason(), list(self.transcript))

    def _finish_reason(self) -> str | None:
        last = getattr(self.client, "last_result", None)
        return str(last.finish_reason) if last is not None else None

    def _final(self, said: list[tuple[str, str]]) -> str:
        """The last agent message that is a document once the stop word is taken out ("APPROVED" alone is not)."""
        for source, text in reversed(said):
            if source in self.names:
                document = self._without_stop_word(text).strip()
                if document:
                    return document
        return ""

    def _without_stop_word(self, text: str) -> str:
        if self._team is None:
            return text
        line = re.compile(rf"^[\s*_#>`]*{re.escape(self.stop_word)}[\s*_.!`]*$", re.IGNORECASE)
        return "\n".join(ln for ln in text.splitlines() if not line.match(ln))


def transcript_markdown(step_key: str, output: str, transcript: list[tuple[str, str]]) -> str:
    parts = [f"# Transcript of step {step_key} ({output})"]
    for n, (source, text) in enumerate(transcript, 1):
        parts.append(f"## {n}. {source}\n\n{text.strip()}")
    return "\n\n".join(parts) + "\n"
