"""Fonts for charts that carry Chinese (power plots, the network chart).

Why shared: matplotlib's own font scan skips .ttc collections, so a Chinese title drew boxes until
the CJK font was added by path; every chart that may carry Chinese needs the same set-up.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

#: CJK fonts tried for Chinese meter names and labels: the one `make` installs (fonts-wqy-microhei), then
#: common alternatives. matplotlib's own font scan skips .ttc collections, so they are added by path.
CJK_FONTS = (
    ("WenQuanYi Micro Hei", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    ("Noto Sans CJK SC", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)


@functools.cache
def use_cjk_fonts(matplotlib: Any) -> None:
    """DejaVu first, then a CJK font glyph by glyph (matplotlib >= 3.6 falls back through the list)."""
    from matplotlib import font_manager

    family = ["DejaVu Sans"]
    for name, path in CJK_FONTS:
        if Path(path).exists():
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError):
                continue
            family.append(name)
    matplotlib.rcParams["font.family"] = family


