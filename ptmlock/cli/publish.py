"""Verb publish: push locked models to an OCI registry (issue 15)."""
from __future__ import annotations

import click

from ptmlock.cli.base import _SELECT_MODEL, _count, _Ctx, cli, jobs_option
from ptmlock.output import Output, human_size


@cli.command()
@click.argument("url", metavar="oci://HOST[:PORT]/NAMESPACE")
@_SELECT_MODEL
@click.option("--insecure", is_flag=True,
              help="Talk plain HTTP to the registry (oci+http:// is allowed without it only for this machine).")
@jobs_option("Blobs pushed", 4, "4")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report (shape in docs/oci.md).")
@click.pass_obj
def publish(obj: _Ctx, url: str, model_ids: tuple[str, ...], insecure: bool, jobs: int, as_json: bool) -> int:
    """Push each locked model to an OCI registry as a CNCF ModelPack artifact.

    One artifact per model, tagged <repo-name>-<commit[:12]>, one layer per file whose digest is
    the file's sha256. Files come from the synced cache and are checked against ptm.lock first;
    blobs the registry already has are not uploaded again.
    """
    from ptmlock.oci.layout import parse_registry_url
    from ptmlock.oci.publish import publish_project

    try:
        registry = parse_registry_url(url, insecure=insecure)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="URL") from None
    out = Output(json_mode=as_json)
    report = publish_project(obj.manifest_path(), registry, model_ids=model_ids, jobs=jobs)
    if as_json:
        out.json({"registry": str(report.url),
                  "models": [{"model": m.model_id, "reference": m.reference, "digest": m.digest, "files": m.files,
                              "uploaded_blobs": m.uploaded, "uploaded_bytes": m.uploaded_bytes,
                              "manifest_changed": m.manifest_changed, "signature": m.signature}
                             for m in report.models],
                  "skipped": [{"model": m, "reason": r} for m, r in report.skipped]})
        return 0
    for model_id, reason in report.skipped:
        out.warn(f"{model_id}: skipped: {reason}.")
    for m in report.models:
        what = (f"uploaded {_count(m.uploaded, 'blob')} ({human_size(m.uploaded_bytes)})" if m.uploaded
                else "unchanged, nothing uploaded" if not m.manifest_changed else "all blobs already there")
        out.result(f"{m.model_id}: {m.reference} ({_count(m.files, 'file')}; {what})")
    out.info(f"Published {_count(len(report.models), 'model')} to {report.url}.")
    return 0
