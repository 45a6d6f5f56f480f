"""The font payslip PDFs embed: one with Chinese glyphs, from the installation, never the
reader's system.

Which file: the `DUTYFLOW_PDF_FONT` setting (a .ttf, .otf or .ttc), else the first of
FONT_FILES that exists (Debian's fonts-noto-cjk first). Without one, making a PDF is
refused with an Unavailable naming the package to install.

A CJK font holds some 65,000 glyphs; reading one takes seconds. So a document embeds a
subset made for the characters it holds: the face is read from its file once per process
(from a collection, the Simplified Chinese face), cut down to the text with fontTools, and
handed to fpdf2 as a small file, which fpdf2 subsets again as it writes. A ZIP of many
payslips makes one subset for all of them.
"""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

from services.errors import Unavailable

FONT_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # Debian fonts-noto-cjk
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),  # Debian fonts-wqy-zenhei
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),  # Debian fonts-arphic-uming
)
MISSING = ("payslip PDFs need a font with Chinese glyphs: install Debian's fonts-noto-cjk "
           "(sudo apt-get install fonts-noto-cjk, or make system-deps), or set "
           "DUTYFLOW_PDF_FONT to a .ttf, .otf or .ttc file")
# Always in a subset: what numbers, dates and the fixed texts need whatever the document.
BASE_TEXT = "".join(chr(code) for code in range(0x20, 0x7F)) + "—–·×→…%"
_SUBSETS = 16

_lock = threading.Lock()
_faces: dict[Path, bytes] = {}
_subsets: OrderedDict[tuple[Path, frozenset[str]], bytes] = OrderedDict()


def font_file(configured: str | None) -> Path:
    """The font file to use: the configured one (which must exist), else the first found."""
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise Unavailable(f"DUTYFLOW_PDF_FONT names {configured}, which is not a file")
        return path
    for path in FONT_FILES:
        if path.is_file():
            return path
    raise Unavailable(MISSING)


def subset_for(path: Path, text: str) -> bytes:
    """The face of `path` cut down to the characters of `text` (and BASE_TEXT), as an
    OpenType file; the latest few are kept, so the same payslip again costs nothing."""
    characters = frozenset(text) | frozenset(BASE_TEXT)
    key = (path, characters)
    with _lock:
        found = _subsets.get(key)
        if found is not None:
            _subsets.move_to_end(key)
            return found
        face = _faces.get(path)
        if face is None:
            face = _faces[path] = _read_face(path)
    font = TTFont(io.BytesIO(face), lazy=True)
    options = subset.Options()
    options.layout_features = []  # no shaping is done: plain glyphs, smaller and faster
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(characters)))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    made = out.getvalue()
    with _lock:
        _subsets[key] = made
        while len(_subsets) > _SUBSETS:
            _subsets.popitem(last=False)
    return made


def _read_face(path: Path) -> bytes:
    """The file's face as one OpenType file: from a collection, the Simplified Chinese one
    (its family name ends in SC), else the first."""
    try:
        if path.suffix.lower() != ".ttc":
            return path.read_bytes()
        faces = TTCollection(str(path), lazy=True).fonts
        chosen = next((face for face in faces
                       if str(face["name"].getDebugName(1) or "").endswith(" SC")), faces[0])
        out = io.BytesIO()
        chosen.save(out)
        return out.getvalue()
    except Exception as err:  # a damaged or foreign file: say which, not a traceback
        raise Unavailable(f"the PDF font {path} cannot be read: {err}") from None
