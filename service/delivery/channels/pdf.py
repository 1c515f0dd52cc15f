"""PDFstore: a PDF letter `<spool>/<clientExtId>/<userExtId>-<version>.pdf`, mode 0600."""

from __future__ import annotations

import asyncio
from pathlib import Path

from service.contracts.envelope import SealedDelivery

from ..failures import PermanentFailure, TransientFailure
from ..texts import code_line, letter_lines, texts_for
from . import Channel
from .files import write_private_file


def letter_path(spool_dir: Path, request: SealedDelivery) -> Path:
    # Both ids were matched against the identifier grammar when the envelope was opened, so
    # neither holds a path separator; the user part only ever names a file, never a folder.
    return spool_dir / request.client_ext_id / f"{request.user_ext_id}-{request.version}.pdf"


def render_letter(request: SealedDelivery) -> bytes:
    # Imported here, not at the top: fpdf (with numpy and fontTools) takes about half a second to
    # import, which every worker would pay at start-up for a channel few deployments use.
    from fpdf.errors import FPDFUnicodeEncodingException

    try:
        return _render(request)
    except FPDFUnicodeEncodingException:
        # The built-in fonts cover Latin-1 only, and the library's message quotes the text.
        raise PermanentFailure("letter text is outside the PDF font's character set") from None


def _render(request: SealedDelivery) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(texts_for(request.language).subject)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.cell(text=texts_for(request.language).subject, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    code = code_line(request)
    for line in letter_lines(request):
        # A fixed-width face keeps 0/O and 1/l apart in the code.
        pdf.set_font("Courier" if line == code else "Helvetica", size=11)
        if line:
            pdf.multi_cell(w=0, text=line, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.ln(5)
    return bytes(pdf.output())


class PdfSpoolChannel(Channel):
    def __init__(self, spool_dir: Path) -> None:
        self._spool_dir = spool_dir

    async def send(self, message: SealedDelivery) -> None:
        data = render_letter(message)
        try:
            await asyncio.to_thread(write_private_file, letter_path(self._spool_dir, message), data)
        except OSError as exc:
            raise TransientFailure(f"spool not writable ({type(exc).__name__})") from None

    async def close(self) -> None:
        return None
