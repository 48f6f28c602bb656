"""Hugging Face license ids (the `license:` of a model card) -> SPDX license ids.

The Hub's ids are lowercase; SPDX ids are case-sensitive, and CycloneDX validates `license.id`
against the SPDX list. Ids with no SPDX equivalent (openrail, llama3, other, ...) are exported
as `license.name`. The Hub's list: https://huggingface.co/docs/hub/repositories-licenses
"""
from __future__ import annotations

_HF_TO_SPDX = {
    "afl-3.0": "AFL-3.0", "agpl-3.0": "AGPL-3.0", "apache-2.0": "Apache-2.0", "artistic-2.0": "Artistic-2.0",
    "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause", "bsd-3-clause-clear": "BSD-3-Clause-Clear",
    "bsl-1.0": "BSL-1.0", "c-uda": "C-UDA-1.0", "cc-by-2.0": "CC-BY-2.0", "cc-by-2.5": "CC-BY-2.5",
    "cc-by-3.0": "CC-BY-3.0", "cc-by-4.0": "CC-BY-4.0", "cc-by-nc-2.0": "CC-BY-NC-2.0",
    "cc-by-nc-3.0": "CC-BY-NC-3.0", "cc-by-nc-4.0": "CC-BY-NC-4.0", "cc-by-nc-nd-3.0": "CC-BY-NC-ND-3.0",
    "cc-by-nc-nd-4.0": "CC-BY-NC-ND-4.0", "cc-by-nc-sa-2.0": "CC-BY-NC-SA-2.0", "cc-by-nc-sa-3.0": "CC-BY-NC-SA-3.0",
    "cc-by-nc-sa-4.0": "CC-BY-NC-SA-4.0", "cc-by-nd-4.0": "CC-BY-ND-4.0", "cc-by-sa-3.0": "CC-BY-SA-3.0",
    "cc-by-sa-4.0": "CC-BY-SA-4.0", "cc0-1.0": "CC0-1.0", "cdla-permissive-1.0": "CDLA-Permissive-1.0",
    "cdla-permissive-2.0": "CDLA-Permissive-2.0", "cdla-sharing-1.0": "CDLA-Sharing-1.0", "ecl-2.0": "ECL-2.0",
    "epl-1.0": "EPL-1.0", "epl-2.0": "EPL-2.0", "etalab-2.0": "etalab-2.0", "eupl-1.1": "EUPL-1.1",
    "eupl-1.2": "EUPL-1.2", "gfdl": "GFDL-1.3", "gpl-2.0": "GPL-2.0", "gpl-3.0": "GPL-3.0", "isc": "ISC",
    "lgpl-2.1": "LGPL-2.1", "lgpl-3.0": "LGPL-3.0", "lppl-1.3c": "LPPL-1.3c", "mit": "MIT", "mpl-2.0": "MPL-2.0",
    "ms-pl": "MS-PL", "ncsa": "NCSA", "odbl": "ODbL-1.0", "odc-by": "ODC-By-1.0", "ofl-1.1": "OFL-1.1",
    "openmdw-1.0": "OpenMDW-1.0", "osl-3.0": "OSL-3.0", "pddl": "PDDL-1.0", "postgresql": "PostgreSQL",
    "unlicense": "Unlicense", "wtfpl": "WTFPL", "zlib": "Zlib",
}


def spdx_id(hf_license: str) -> str | None:
    """The SPDX id for a Hub license id (case-insensitive), or None when SPDX has none."""
    return _HF_TO_SPDX.get(hf_license.strip().casefold())
