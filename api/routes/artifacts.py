"""Artifacts of a run: list, versions of one, raw download of a version, a ZIP of the latest versions."""

from __future__ import annotations

import asyncio
import io
import zipfile
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from api.deps import RunId, StoreDep, get_view
from api.problems import PROBLEM_RESPONSES, Problem
from api.schemas import ArtifactDetail, ArtifactList, ArtifactVersion
from store import ArtifactRef, Store

router = APIRouter(prefix="/runs/{run_id}", tags=["artifacts"], responses=PROBLEM_RESPONSES)
ArtifactName = Annotated[str, PathParam(min_length=1, max_length=500)]
MEDIA_TYPES = {
    ".md": "text/markdown; charset=utf-8",
    ".markdown": "text/markdown; charset=utf-8",
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}

# what a raw download can be, for the OpenAPI document: every type above, and bytes for any other extension
RAW_TYPES = sorted({m.split(";")[0] for m in MEDIA_TYPES.values()} | {"application/octet-stream"})
RAW_CONTENT: dict[str, dict[str, object]] = {t: {} for t in RAW_TYPES}


@lru_cache(maxsize=4096)  # a run lists the same few names on every request; parsing a path each time showed
def media_type(name: str) -> str:
    return MEDIA_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")


def safe_member(name: str) -> str | None:
    """`name` as a relative path that cannot leave the folder a ZIP is unpacked into; None if nothing is left."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "..", "/")]
    parts = [p.replace(":", "_") for p in parts]
    return "/".join(parts) or None


def _versions(store: Store, run_id: str) -> dict[str, list[ArtifactRef]]:
    by_name: dict[str, list[ArtifactRef]] = {}
    for ref in store.list_artifacts(run_id):
        by_name.setdefault(ref.name, []).append(ref)
    if not by_name:
        get_view(store, run_id)  # 404 for an unknown run; reading the whole run only when it has no artifacts
    for refs in by_name.values():
        refs.sort(key=lambda r: r.version)
    return by_name


def _raw_url(run_id: str, ref: ArtifactRef) -> str:
    return f"/runs/{quote(run_id)}/artifacts/{quote(ref.name)}/versions/{ref.version}/raw"


@router.get("/artifacts", response_model=ArtifactList)
async def list_artifacts(run_id: RunId, store: StoreDep) -> JSONResponse:
    """Each artifact of the run with its latest version."""
    items = []
    for name, refs in sorted((await asyncio.to_thread(_versions, store, run_id)).items()):
        last = refs[-1]
        items.append({
            "name": name, "latest_version": last.version, "versions": len(refs), "step": last.step,
            "sha256": last.sha256, "bytes": last.bytes, "media_type": media_type(name),
            "created_at": last.created_at.isoformat(),
        })
    return JSONResponse({"run_id": run_id, "items": items})


@router.get(
    "/artifacts.zip",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "the latest version of each artifact"}},
)
def download_zip(run_id: RunId, store: StoreDep) -> Response:
    """A ZIP of the latest version of every artifact, under its name (names never leave the archive root)."""
    buf = io.BytesIO()
    written: set[str] = set()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, refs in sorted(_versions(store, run_id).items()):
            member = safe_member(name)
            if member is not None and member not in written:
                written.add(member)
                zf.writestr(member, store.read_artifact(refs[-1].id, refs[-1].sha256))
    filename = f"{run_id}-artifacts.zip"
    return Response(buf.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})


@router.get(
    "/artifacts/{name:path}/versions/{version}/raw",
    response_class=Response,
    responses={200: {"content": RAW_CONTENT, "description": "the stored bytes, typed by the name's extension"}},
)
def download_version(run_id: RunId, name: ArtifactName, version: int, store: StoreDep) -> Response:
    """The bytes of one version, with a content type from the name's extension."""
    ref = store.artifact_version(run_id, name, version)
    if ref is None:
        get_view(store, run_id)  # 404 for an unknown run; reading the whole run only on a miss
        raise Problem(404, f"run {run_id!r} has no version {version} of artifact {name!r}")
    filename = PurePosixPath(name).name or "artifact"
    return Response(
        store.read_artifact(ref.id, ref.sha256),
        media_type=media_type(name),
        headers={"Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}", "ETag": f'"{ref.sha256}"'},
    )


@router.get("/artifacts/{name:path}", response_model=ArtifactDetail)
def get_artifact(run_id: RunId, name: ArtifactName, store: StoreDep) -> ArtifactDetail:
    """Every version of one artifact, oldest first."""
    refs = _versions(store, run_id).get(name)
    if not refs:
        raise Problem(404, f"run {run_id!r} has no artifact {name!r}")
    return ArtifactDetail(run_id=run_id, name=name, versions=[
        ArtifactVersion(version=r.version, step=r.step, sha256=r.sha256, bytes=r.bytes, media_type=media_type(name),
                        created_at=r.created_at.isoformat(), raw_url=_raw_url(run_id, r))
        for r in refs
    ])
