"""The workflows of a v6 install, read into steps: a 6.0 `workflow.yaml` with its instructions (one step per
`<step>`), a `workflow.md` with step files (one step per file, following `nextStepFile`), or a skill (one step per
step file, else the whole SKILL.md as one step). What the engine does not act on is a warning naming the file,
the line and the construct.

A `<goto step>` (or a `<goto anchor>` whose anchor is in another step) is a jump the step may take (RawStep.jumps,
compiled into PlanStep.jumps: the agent says whether its condition held, the engine moves there). A goto to an
anchor in its own step is work within the step: nothing to act on, no warning. A goto whose target is in no step
of the file stays a warning."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bmad.diagnostics import Diagnostic
from bmad.v6 import instructions
from bmad.v6.install import Install, front_matter, read_csv
from bmad.yamlsrc import Located, YamlLoadError, load_yaml_text, read_text, to_plain

_STEP_REF = re.compile(r"([\w./{}-]*(?<![\w-])step-[\w.-]*\w\.md)")
_MD_STEP = re.compile(r"^#{2,3} Step\b.*$", re.M)
HEADLESS_NOTE = ("You run headless: nobody reads this conversation while it runs. Do not ask and do not wait: "
                 "follow the headless mode below, record each value you inferred in `assumptions` and each gap "
                 "that needs a person's decision in `open_questions` of the JSON result.")
ASSUMPTION_NOTE = ("Where these instructions ask the user (<ask>, a menu, a question), do not wait: answer with "
                   "your best assumption and record each one in the document under 'Assumptions'.")


@dataclass
class RawStep:
    title: str
    body: str
    path: str
    line: int
    condition: str | None = None
    optional: bool = False
    repeat_input: str | None = None
    repeat_default: int = 1
    saves: bool = False  # has <template-output> (or writes the output file): saves a new version of the document
    output: str | None = None  # a step file's own `outputFile`
    invokes: list[str] = field(default_factory=list)  # workflow paths (resolved) to run after this step
    asks: list[str] = field(default_factory=list)  # the texts of its <ask> tags: questions to a person
    n: str = ""  # its number in the instructions (`<step n>`), which gotos name
    jumps: list[RawJump] = field(default_factory=list)  # its gotos to other steps of the same file


@dataclass
class RawJump:
    step: str  # the target step's `n`
    condition: str
    text: str
    line: int


@dataclass
class V6Workflow:
    id: str
    name: str
    description: str
    module: str
    path: str  # the defining file, as diagnostics name it
    kind: str  # workflow.yaml | step-files | skill
    directory: Path
    output: str | None = None
    template: Path | None = None
    agent: str | None = None
    steps: list[RawStep] = field(default_factory=list)
    headless: str = ""  # a skill's headless contract (PlanStep.headless)


def _yaml(file: Path, problems: list[Diagnostic]) -> Any:
    try:
        return to_plain(load_yaml_text(read_text(file, file.as_posix()), Located(file.as_posix())))
    except YamlLoadError as err:
        problems.append(err.diagnostic)
        return None


def _on_disk(install: Install, path: str, base: Path) -> Path:
    """A path as BMAD files write it (`{project-root}/_bmad/…`, `{installed_path}/…`, `./x`, `../x`)."""
    if "{project-root}" in path or path.startswith("_bmad/"):
        rel = path.replace("{project-root}", "").lstrip("/")
        top, _, rest = rel.partition("/")
        return install.root / rest if top in ("_bmad", ".bmad", "bmad") else install.project / rel
    return (base / path.replace("{installed_path}/", "").replace("{skill-root}/", "")).resolve()


def _warn(problems: list[Diagnostic], path: str, line: int, message: str) -> None:
    problems.append(Diagnostic(path, line, 1, message, "warning"))


# --- workflow.yaml + instructions -------------------------------------------------------------------------------

def from_yaml(install: Install, file: Path, module: str, problems: list[Diagnostic]) -> V6Workflow | None:
    data = _yaml(file, problems)
    shown = install.shown(file)
    if not isinstance(data, dict):
        problems.append(Diagnostic(shown, 1, 1, "workflow.yaml is not a mapping; it needs name:, instructions: …"))
        return None
    local = {k: v for k, v in data.items() if isinstance(v, str) and not v.startswith("{config_source}:")}
    values = {**local, "installed_path": file.parent.as_posix()}

    def value(key: str) -> str:
        return install.resolve(str(data.get(key) or ""), values)

    wf = V6Workflow(id=str(data.get("name") or file.parent.name).strip('"'), name=str(data.get("name") or ""),
                    description=str(data.get("description") or ""), module=module, path=shown,
                    kind="workflow.yaml", directory=file.parent)
    out = str(data.get("default_output_file") or "")
    wf.output = install.resolve(out, {k: v for k, v in local.items() if k != "default_output_file"}) or None
    template = data.get("template")
    if isinstance(template, str) and template.strip() and template is not False:
        wf.template = _on_disk(install, template.replace("{installed_path}", file.parent.as_posix()), file.parent)
    source = str(data.get("instructions") or "")
    ins = _on_disk(install, source.replace("{installed_path}", file.parent.as_posix()), file.parent) if source else None
    if ins is None or not ins.is_file():
        ins = next((file.parent / n for n in ("instructions.xml", "instructions.md") if (file.parent / n).is_file()),
                   None)
    if ins is None:
        problems.append(Diagnostic(shown, 1, 1, f"workflow '{wf.id}': its instructions file "
                                   f"({source or 'instructions.md'}) does not exist"))
        return None
    wf.steps = _instruction_steps(install, ins, problems)
    del value
    return wf


def _instruction_steps(install: Install, file: Path, problems: list[Diagnostic]) -> list[RawStep]:
    text = read_text(file, install.shown(file))
    shown = install.shown(file)
    parsed = instructions.parse(text)
    if not parsed:
        return _markdown_steps(text, shown)
    steps = []
    for s in parsed:
        step = RawStep(title=f"Step {s.n}: {s.goal}".rstrip(": "), body=s.body, path=shown, line=s.line,
                       condition=s.attrs.get("if") or None, optional=s.attrs.get("optional") == "true",
                       saves=bool(s.template_outputs), asks=[t.text for t in s.asks if t.text])
        if each := s.attrs.get("for-each"):
            step.repeat_input = "for_each_" + re.sub(r"\W+", "_", each).strip("_")
        elif (times := s.attrs.get("repeat")) is not None:
            step.repeat_input = f"repeat_step_{re.sub(r'[^0-9a-z]+', '_', s.n)}"
            step.repeat_default = int(times) if times.isdigit() else 1
            if not times.isdigit():
                _warn(problems, shown, s.line, f"repeat=\"{times}\" on step {s.n} is not a count: the step runs "
                      f"once per item of run input '{step.repeat_input}' (default 1)")
        step.n = s.n
        step.jumps = _jumps(s, parsed, shown, problems)
        for tag in s.invoke_tasks:
            _warn(problems, shown, tag.line, f"<invoke-task> in step {s.n} is not run by the engine: the agent of "
                  f"the step is asked to do it ({tag.text[:80]})")
        for tag in s.invoke_workflows:
            invoked = instructions.workflow_path(tag)
            if invoked is None:
                _warn(problems, shown, tag.line, f"<invoke-workflow> in step {s.n} names no workflow file: not run")
            else:
                step.invokes.append(invoked)
        steps.append(step)
    return steps


def _jumps(step: instructions.Step, every: list[instructions.Step], shown: str,
           problems: list[Diagnostic]) -> list[RawJump]:
    """The step's gotos as jumps to steps of the file (by `n`); one to an anchor of its own step is work within
    the step (no jump); one to a step or anchor the file does not have is a warning."""
    numbers = {s.n for s in every}
    anchors = {a.attrs.get("id"): s.n for s in every for a in s.anchors}
    jumps: list[RawJump] = []
    for goto in step.gotos:
        target = goto.target if goto.kind == "step" else anchors.get(goto.target)
        if goto.kind == "anchor" and target == step.n:
            continue
        if target is None or target not in numbers:
            what = "no such step" if goto.kind == "step" else "no <anchor id> of that name"
            _warn(problems, shown, goto.line, f"<goto {goto.kind}=\"{goto.target}\"> in step {step.n} is not acted "
                  f"on: the instructions have {what}")
            continue
        text = goto.text or (f"anchor {goto.target}" if goto.kind == "anchor" else "")
        jumps.append(RawJump(step=target, condition=goto.condition, text=text, line=goto.line))
    return jumps


def _markdown_steps(text: str, shown: str) -> list[RawStep]:
    """Instructions without `<step>` tags: one step per `## Step …` heading, else the whole file as one step."""
    heads = list(_MD_STEP.finditer(text))
    if not heads:
        return [RawStep(title="Instructions", body=text.strip(), path=shown, line=1, saves=True)]
    steps = []
    for n, m in enumerate(heads):
        end = heads[n + 1].start() if n + 1 < len(heads) else len(text)
        steps.append(RawStep(title=m[0].lstrip("# ").strip(), body=text[m.end():end].strip(), path=shown,
                             line=text.count("\n", 0, m.start()) + 1, saves=n + 1 == len(heads)))
    return steps


# --- step files (workflow.md of 6.0, skills) --------------------------------------------------------------------

def _step_files(folder: Path) -> list[Path]:
    found = [p for p in folder.rglob("step-*.md") if p.is_file()]
    return sorted(found, key=lambda p: p.as_posix())


def _chain(install: Install, entry: Path, entry_body: str, problems: list[Diagnostic]) -> list[Path]:
    """The step files in the order the workflow reads them: the first one the entry file names (else the first by
    name), then each one's `nextStepFile`, else the first step file it names that has not run yet."""
    every = _step_files(entry.parent)
    if not every:
        return []
    first = next((p for ref in _STEP_REF.findall(entry_body) if (p := _ref(install, ref, entry.parent, every))), None)
    first = first or every[0]
    every = [p for p in every if p.parent == first.parent]  # a folder may hold several workflows' steps
    chain: list[Path] = []
    current: Path | None = first
    while current is not None and current not in chain:
        chain.append(current)
        meta, body, _ = front_matter(read_text(current, install.shown(current)))
        refs = [str(meta["nextStepFile"])] if meta.get("nextStepFile") else []
        refs += [str(v) for k, v in meta.items() if k != "nextStepFile" and "step" in k.lower() and isinstance(v, str)]
        refs += _STEP_REF.findall(body) if not meta.get("nextStepFile") else []
        found = (_ref(install, r, current.parent, every) for r in refs)
        current = next((p for p in found if p is not None and p not in chain), None)
        if not meta.get("nextStepFile") and current is not None and current.name < chain[-1].name:
            current = None  # a step pointing back (a menu returning to an earlier step) ends the chain
    for left in every:
        if left not in chain:
            _warn(problems, install.shown(left), 1, f"step file {left.name} is not run: no step reaches it by "
                  "nextStepFile (it is a branch taken by a menu choice or on resuming)")
    return chain


def _ref(install: Install, ref: str, base: Path, every: list[Path]) -> Path | None:
    path = _on_disk(install, ref, base)
    if path in every:
        return path
    by_name = [p for p in every if p.name == Path(ref).name]
    return by_name[0] if len(by_name) == 1 else None


# a step file without `outputFile` that says where it writes: "Append the final content to `{planning_artifacts}/x.md`"
_WRITES_TO = re.compile(r"^[-*\s]*(?:Append|Copy|Save|Write)\b[^`\n]*?\bto `(\{[\w-]+\}/[^`\s]+\.md)`", re.M)


def _file_step(install: Install, file: Path, values: dict[str, Any]) -> RawStep:
    text = read_text(file, install.shown(file))
    meta, body, line = front_matter(text)
    title = next((ln.lstrip("# ").strip() for ln in body.splitlines() if ln.startswith("#")), file.stem)
    output = meta.get("outputFile")
    if not isinstance(output, str) and (said := _WRITES_TO.search(body)):
        output = said[1]
    return RawStep(title=title, body=body.strip(), path=install.shown(file), line=line,
                   output=install.resolve(str(output), values) if isinstance(output, str) else None,
                   saves=isinstance(output, str) or "template-output" in body)


def from_markdown(install: Install, file: Path, module: str, problems: list[Diagnostic]) -> V6Workflow | None:
    text = read_text(file, install.shown(file))
    meta, body, _ = front_matter(text)
    wf = V6Workflow(id=str(meta.get("name") or file.stem), name=str(meta.get("name") or ""),
                    description=str(meta.get("description") or ""), module=module, path=install.shown(file),
                    kind="step-files", directory=file.parent)
    files = _chain(install, file, body, problems)
    if not files:
        wf.steps = _markdown_steps(body, install.shown(file))
        return wf
    wf.steps = [_file_step(install, f, {}) for f in files]
    wf.output = next((s.output for s in wf.steps if s.output), None)
    wf.template = _template_of(install, files, file.parent)
    return wf


def _template_of(install: Install, files: list[Path], folder: Path) -> Path | None:
    for f in files:
        meta, _, _ = front_matter(read_text(f, install.shown(f)))
        for key, value in meta.items():
            if "template" in key.lower() and isinstance(value, str) and value.endswith(".md"):
                path = _on_disk(install, value, f.parent)
                if path.is_file():
                    return path
    found = sorted(folder.glob("*template*.md")) + sorted(folder.glob("templates/*.md"))
    return found[0] if found else None


def from_skill(install: Install, skill_dir: Path, module: str, help_rows: dict[str, dict[str, str]],
               table: dict[str, Any], problems: list[Diagnostic]) -> V6Workflow:
    skill = skill_dir / "SKILL.md"
    meta, body, _ = front_matter(read_text(skill, install.shown(skill)))
    wf = V6Workflow(id=str(meta.get("name") or skill_dir.name), name=str(meta.get("name") or skill_dir.name),
                    description=str(meta.get("description") or ""), module=module, path=install.shown(skill),
                    kind="skill", directory=skill_dir)
    entry = skill_dir / "workflow.md" if (skill_dir / "workflow.md").is_file() else skill
    entry_body = front_matter(read_text(entry, install.shown(entry)))[1]
    files = _chain(install, entry, entry_body, problems)
    row = help_rows.get(wf.id)
    if row and row.get("outputs"):
        location = row.get("output-location", "")
        place = install.resolve("{" + location + "}" if re.fullmatch(r"[\w-]+", location) else location)
        place = re.sub(r"(?<!\{)\{([\w-]+)\}(?!\})", r"{{\1}}", place)  # not config: a run-time variable
        named = re.search(r"[\w-]+\.\w+", row["outputs"])  # `SPEC.md + companion files`: the file it names
        name = named[0] if named else re.sub(r"[^\w.-]+", "-", row["outputs"].strip().lower()).strip("-")
        if place and not place.startswith(("{{", "http")) and " " not in place and name:
            wf.output = f"{place.rstrip('/')}/{name if '.' in name else name + '.md'}"
    wf.steps = [_file_step(install, f, {}) for f in files] or [
        RawStep(title=f"{wf.id}: {wf.description.split('.')[0]}", body=body.strip(), path=install.shown(skill),
                line=1, saves=True)]
    templates = [str(v) for k, v in table.items() if "template" in k and isinstance(v, str) and v.endswith(".md")]
    wf.template = next((p for t in templates if (p := skill_dir / t).is_file()), None) or \
        _template_of(install, files, skill_dir)
    if contract := _headless(skill_dir):
        wf.description += f" (headless mode: {', '.join(f.relative_to(skill_dir).as_posix() for f in contract)})"
        wf.headless = "\n\n".join(read_text(f, install.shown(f)).strip() for f in contract)
    return wf


def _headless(skill_dir: Path) -> list[Path]:
    """A 6.7+ skill's headless mode: its rules (`references/headless.md`) and its JSON result's schemas
    (`assets/headless-schemas.md`; a skill whose default invocation is headless has only these)."""
    found = [skill_dir / "references" / "headless.md", skill_dir / "assets" / "headless-schemas.md"]
    return [f for f in found if f.is_file()]


def help_rows(install: Install, problems: list[Diagnostic]) -> list[dict[str, str]]:
    """`_config/bmad-help.csv` (merged by the installer), else every module's `module-help.csv`."""
    merged = read_csv(install.config_dir / "bmad-help.csv", problems)
    if merged:
        return merged
    rows: list[dict[str, str]] = []
    for module in install.modules:
        rows += read_csv(install.root / module / "module-help.csv", problems)
    return rows
