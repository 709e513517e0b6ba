"""Inputs and outputs of the bare Temporal baseline: small pydantic models, like the engine's."""

from __future__ import annotations

from pydantic import BaseModel


class ChainInput(BaseModel):
    run_id: str
    steps: int
    children: list[int] = []  # then one child workflow per entry, chaining that many activities


class NoopInput(BaseModel):
    run_id: str
    key: str
    index: int


class NoopResult(BaseModel):
    key: str
    index: int


class ChainResult(BaseModel):
    run_id: str
    steps: int
