from __future__ import annotations

from ptmlock.cli import main

raise SystemExit(main())
