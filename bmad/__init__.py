"""BMAD-METHOD v4 definitions: load `.bmad-core` folders, validate them, compile a workflow into a Plan."""

from bmad.compile import compile_workflow
from bmad.diagnostics import DefinitionError, Diagnostic
from bmad.loader import load_bmad
from bmad.models import Catalog

__all__ = ["Catalog", "DefinitionError", "Diagnostic", "compile_workflow", "load_bmad"]
