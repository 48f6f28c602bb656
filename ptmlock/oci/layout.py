"""Where a locked model lives in an OCI registry, and the CNCF ModelPack manifest that describes it.

Pure: no I/O. One locked model at one commit is one OCI image manifest in the repository
`<namespace>/<owner>/<name>` (datasets: `<namespace>/datasets/<owner>/<name>`), tagged
`<name>-<commit[:12]>`, so the same pin always lands at the same reference. Each file is one
uncompressed layer whose digest is the file's sha256, with the ModelPack media type of its kind
and its repo path in `org.cncf.model.filepath`. docs/oci.md lists every name used here.
"""
from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ptmlock.lockfile.model import LockedModel
from ptmlock.oci.kinds import model_format

# CNCF ModelPack (github.com/modelpack/model-spec, docs/spec.md and docs/annotations.md).
ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.model.config.v1+json"
WEIGHT_TYPE = "application/vnd.cncf.model.weight.v1.raw"
WEIGHT_CONFIG_TYPE = "application/vnd.cncf.model.weight.config.v1.raw"
CODE_TYPE = "application/vnd.cncf.model.code.v1.raw"
DOC_TYPE = "application/vnd.cncf.model.doc.v1.raw"
DATASET_TYPE = "application/vnd.cncf.model.dataset.v1.raw"
LAYER_TYPES = (WEIGHT_TYPE, WEIGHT_CONFIG_TYPE, CODE_TYPE, DOC_TYPE, DATASET_TYPE)
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
FILEPATH = "org.cncf.model.filepath"
FILE_METADATA = "org.cncf.model.file.metadata+json"
UNTESTED = "org.cncf.model.file.mediatype.untested"
# Read as well (issue 25): the names before model-spec v0.0.7 (`cnai`, renamed in commit 859889f).
_OLD_ARTIFACT_TYPE = "application/vnd.cnai.model.manifest.v1+json"
_OLD_CONFIG_TYPE = "application/vnd.cnai.model.config.v1+json"
_OLD_FILEPATH = "org.cnai.model.filepath"
# How a layer's blob holds its file(s), from the media type's suffix (docs/spec.md, "layers").
ARCHIVES = ("raw", "tar", "tar+gzip", "tar+zstd")
_LAYER_TYPE = re.compile(r"^application/vnd\.(?:cncf|cnai)\.model\.(weight|weight\.config|doc|code|dataset)\.v1\."
                         r"(raw|tar|tar\+gzip|tar\+zstd)$")
TITLE = "org.opencontainers.image.title"  # what oras and most tools name a pulled layer
REVISION = "org.opencontainers.image.revision"
SOURCE = "org.opencontainers.image.source"
# Which hub entry the artifact holds: checked against the lock before any byte is used.
HUB = "dev.ptmlock.hub"
REPO = "dev.ptmlock.repo"
REPO_TYPE = "dev.ptmlock.repo-type"
COMMIT = "dev.ptmlock.commit"

_REPO_PART = re.compile(r"[^a-z0-9._-]+")
_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class RegistryURL:
    """A parsed `oci://HOST[:PORT]/NAMESPACE` (or `oci+http://...`)."""

    host: str  # host[:port], as Docker config keys name it
    namespace: str
    scheme: str  # "https", or "http" for oci+http:// and --insecure

    @property
    def base(self) -> str:
        """`scheme://host`, the root of the registry API."""
        return f"{self.scheme}://{self.host}"

    def __str__(self) -> str:
        return f"{'oci' if self.scheme == 'https' else 'oci+http'}://{self.host}/{self.namespace}"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (with or without a port)."""
    try:
        name = urlsplit("//" + host).hostname or ""
    except ValueError:  # an unclosed "[" of an IPv6 address
        return False
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_registry_url(url: str, *, insecure: bool = False) -> RegistryURL:
    """Parse `oci://HOST[:PORT]/NAMESPACE`; `oci+http://` (plain HTTP) only for a loopback host
    or with `insecure`, which also makes `oci://` use plain HTTP.

    Raises:
        ValueError: the message says what is wrong with `url`.
    """
    if "@" in url:  # checked first, and the part before the last "@" is never echoed (issue 22: `user:pa/ss@`)
        raise ValueError(f"{url.rsplit('@', 1)[-1]!r}: credentials do not belong in the URL (it is written to "
                         "ptm.toml and printed); use `docker login`, DOCKER_CONFIG or PTMLOCK_OCI_USERNAME/PASSWORD")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(f"{url!r} is not a valid URL; write oci://HOST[:PORT]/NAMESPACE") from None
    if parts.scheme not in ("oci", "oci+http"):
        raise ValueError(f"{url!r} is not an OCI registry URL; write oci://HOST[:PORT]/NAMESPACE")
    if parts.query or parts.fragment or not parts.hostname:
        raise ValueError(f"{url!r} must be oci://HOST[:PORT]/NAMESPACE, with no query or fragment")
    host = parts.netloc.lower()
    try:
        parts.port  # noqa: B018  (validates the port)
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    namespace = parts.path.strip("/")
    if not namespace or not all(re.fullmatch(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*", p)
                                for p in namespace.split("/")):
        raise ValueError(f"{url!r} needs a namespace of lowercase path components, e.g. oci://{host}/models")
    plain = parts.scheme == "oci+http" or insecure
    if plain and not insecure and not is_loopback(host):
        raise ValueError(f"{url!r} would send models and credentials over plain HTTP to {host}, which is not this "
                         "machine; use oci:// (HTTPS), or allow it explicitly with --insecure / insecure = true")
    return RegistryURL(host=host, namespace=namespace, scheme="http" if plain else "https")


def repository(url: RegistryURL, model: LockedModel) -> str:
    """The OCI repository of `model` under `url`'s namespace: `<ns>/<owner>/<name>`, lowercased
    (OCI names are lowercase), datasets under `<ns>/datasets/`."""
    parts = [_repo_part(p) for p in model.canonical.split("/")]
    prefix = [url.namespace] + (["datasets"] if model.repo_type == "dataset" else [])
    return "/".join(prefix + parts)


def _repo_part(part: str) -> str:
    cleaned = _REPO_PART.sub("-", part.lower()).strip("._-")
    cleaned = re.sub(r"[._-]{2,}", "-", cleaned)
    return cleaned or "x"


_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(rf"^({_COMPONENT}(?:/{_COMPONENT})*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})|@(sha256:[0-9a-f]{{64}}))$")


def split_reference(reference: object) -> tuple[str, str]:
    """(repository, tag or digest) of `repo:tag` or `repo@sha256:<hex>` (a reference within one
    registry: no host).

    Raises:
        ValueError: the message says what is expected.
    """
    m = _REFERENCE.match(reference) if isinstance(reference, str) else None
    if m is None:
        raise ValueError(f"{reference!r} is not a reference in the registry; write REPOSITORY:TAG or "
                         "REPOSITORY@sha256:<64 hex digits>, the repository in lowercase without the host")
    return m.group(1), m.group(2) or m.group(3)


def tag(model: LockedModel) -> str:
    """`<repo-name>-<commit[:12]>`: the same pin always lands at the same reference."""
    name = _TAG_BAD.sub("-", model.canonical.split("/")[-1]).lstrip(".-")[:100] or "model"
    return f"{name}-{model.commit[:12]}"


def media_type(kind: str) -> str:
    """The raw layer media type of a ModelPack kind (`ptmlock.oci.kinds`): weight, weight.config,
    doc, code, dataset."""
    return f"application/vnd.cncf.model.{kind}.v1.raw"


def archive_of(media_type: str) -> str:
    """How a layer of `media_type` holds its files: `raw` (the file itself) or `tar`, `tar+gzip`,
    `tar+zstd` (ModelPack's tar layers, in `cncf` and pre-v0.0.7 `cnai` names; other media
    types ending in `.tar`, `.tar+gzip`, `.tar+zstd` too, e.g. OCI image layers). Else raw."""
    m = _LAYER_TYPE.match(media_type)
    if m:
        return m.group(2)
    for archive in ("tar+gzip", "tar+zstd", "tar"):
        if media_type.endswith(("." + archive, "/" + archive)):
            return archive
    return "raw"


@dataclass(frozen=True)
class Layer:
    """One layer of an artifact: the repo path it names (a file; for a tar layer possibly a folder,
    or "" when it names none), its digest (`sha256:<hex>`), size and media type."""

    path: str
    digest: str
    size: int
    media_type: str = WEIGHT_TYPE
    untested: bool = False  # the media type is a guess (`org.cncf.model.file.mediatype.untested`)

    @property
    def archive(self) -> str:
        """`raw`, `tar`, `tar+gzip` or `tar+zstd` (`archive_of`)."""
        return archive_of(self.media_type)

    def to_dict(self) -> dict[str, Any]:
        """The layer's descriptor as published: path, the file's attributes (the spec's File
        Metadata, fixed mode 0644, owner 0:0 and mtime of the Unix epoch so that a pin always
        gives the same bytes; typeflag 48 is tar's regular file, '0'), and whether the media
        type is a guess."""
        meta = {"name": self.path.rsplit("/", 1)[-1], "mode": 0o644, "uid": 0, "gid": 0, "size": self.size,
                "mtime": "1970-01-01T00:00:00Z", "typeflag": 48}
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size,
                "annotations": {FILEPATH: self.path, TITLE: self.path,
                                FILE_METADATA: json.dumps(meta, sort_keys=True, separators=(",", ":")),
                                UNTESTED: "true" if self.untested else "false"}}


def config_blob(model: LockedModel, layers: Sequence[Layer]) -> bytes:
    """The ModelPack config: descriptor (name, revision, SPDX licenses, sourceURL), config.format
    in the spec's vocabulary, and `modelfs` listing the layers' digests. Deterministic (no creation
    time), so re-publishing uploads nothing."""
    descriptor: dict[str, Any] = {"name": model.canonical, "revision": model.commit,
                                  "sourceURL": source_url(model)}
    if model.license:
        descriptor["licenses"] = [spdx_expression(model.license)]
    fmt = model_format(la.path for la in layers if la.media_type == WEIGHT_TYPE)
    data: dict[str, Any] = {
        "descriptor": descriptor,
        "config": {"format": fmt} if fmt else {},
        "modelfs": {"type": "layers", "diffIds": [layer.digest for layer in layers]},
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def source_url(model: LockedModel) -> str:
    """The Hub page of the repo at the locked commit (`descriptor.sourceURL`)."""
    kind = {"dataset": "datasets/", "space": "spaces/"}.get(model.repo_type, "")
    return f"https://huggingface.co/{kind}{model.canonical}/tree/{model.commit}"


def spdx_expression(hub_license: str) -> str:
    """The Hub licence id as an SPDX license expression (`descriptor.licenses`): its SPDX id (the
    mapping the CycloneDX export uses), else `LicenseRef-hf-<id>` (SPDX's form for a licence
    outside its list), e.g. `other` -> `LicenseRef-hf-other`."""
    from ptmlock.supply.licenses import spdx_id

    spdx = spdx_id(hub_license)
    return spdx if spdx else "LicenseRef-hf-" + (re.sub(r"[^A-Za-z0-9.-]+", "-", hub_license.strip()) or "unknown")


def image_manifest(model: LockedModel, layers: Sequence[Layer], config: bytes, config_digest: str) -> bytes:
    """The OCI image manifest of `model` (ModelPack artifact type), bytes as pushed."""
    data = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
        "layers": [layer.to_dict() for layer in layers],
        "annotations": {HUB: model.hub, REPO: model.canonical, REPO_TYPE: model.repo_type, COMMIT: model.commit,
                        REVISION: model.commit},
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def read_manifest(data: object, *, where: str) -> tuple[Mapping[str, str], list[Layer]]:
    """Validate a pulled image manifest: (its annotations, its layers in order).

    A raw layer is named by `org.cncf.model.filepath` (or the pre-v0.0.7 `org.cnai.model.filepath`),
    else by `org.opencontainers.image.title` (what oras sets), and must name one; a tar layer may
    name a file, a folder, or nothing (its members name its files). Paths are checked later
    against the lock, which alone decides what is written where.

    Raises:
        ValueError: not a ModelPack image manifest, or a malformed layer (message names `where`).
    """
    if not isinstance(data, dict) or data.get("schemaVersion") != 2 or not isinstance(data.get("layers"), list):
        raise ValueError(f"{where} is not an OCI image manifest")
    config = data.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    if data.get("artifactType") not in (ARTIFACT_TYPE, _OLD_ARTIFACT_TYPE) and config_type not in (
            CONFIG_TYPE, _OLD_CONFIG_TYPE):
        raise ValueError(f"{where} is not a CNCF ModelPack artifact (artifactType {data.get('artifactType')!r}, "
                         f"config {config_type!r})")
    raw_notes = data.get("annotations") or {}
    notes = {str(k): str(v) for k, v in raw_notes.items()} if isinstance(raw_notes, dict) else {}
    layers: list[Layer] = []
    for i, item in enumerate(data["layers"]):
        if not isinstance(item, dict):
            raise ValueError(f"{where}: layer {i} is not an object")
        ann = item.get("annotations")
        ann = ann if isinstance(ann, dict) else {}
        path = ann.get(FILEPATH) or ann.get(_OLD_FILEPATH) or ann.get(TITLE)
        digest, size, kind = item.get("digest"), item.get("size"), str(item.get("mediaType", ""))
        if path is None and archive_of(kind) != "raw":
            path = ""
        if not isinstance(path, str) or not isinstance(digest, str) or not _DIGEST.match(digest):
            raise ValueError(f"{where}: layer {i} has no file path or no sha256 digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"{where}: layer {i} ({path}) has an invalid size {size!r}")
        path = path.strip("/").removeprefix("./")
        layers.append(Layer(path="" if path == "." else path, digest=digest, size=size, media_type=kind))
    return notes, layers
