"""queue_billingdocs and send_documents: each completed bill (and each credit note) becomes a
document, rendered to HTML (and to PDF where weasyprint is installed) and sent once.

Queueing is one ``INSERT … SELECT`` of a ``bill_document`` row per completed bill or credit
note that has none. Sending reads and renders the unsent documents a chunk at a time, then
takes them one by one — each is an e-mail: it is claimed, sent, and the claim committed once
the notifier has accepted it, so a re-run never sends a recorded document again (a crash
between the notifier's acceptance and the commit can repeat that one message, with the same
Message-ID). An account with no e-mail
address gets its document in the print queue (``outbox/print``) instead.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Connection, Engine, and_, exists, func, insert, literal, select, update

from billing.db.schema import accounts, bill, bill_chg, bill_document, bill_segment, credit_note, persons
from billing.errors import BillingError
from billing.notify import Notifier, OutboxNotifier, sender_address

RENDER_CHUNK = 500
_TEMPLATES = Environment(loader=PackageLoader("billing.invoicing", "templates"), autoescape=select_autoescape())


@dataclass(frozen=True)
class SendOutcome:
    sent: int
    printed: int


def queue_documents(conn: Connection, day: date) -> int:
    """A document for every bill completed, and every credit note issued, by ``day``."""
    d, b, a, cn = bill_document, bill, accounts, credit_note
    columns = ["document_id", "bill_id", "kind", "recipient"]
    invoices = conn.execute(insert(d).from_select(columns, (
        select(literal("INV-") + b.c.bill_id, b.c.bill_id, literal("INVOICE"), a.c.email)
        .join(a, a.c.account_id == b.c.account_id)
        .where(b.c.status == "COMPLETE", b.c.completed_dt <= day,
               ~exists().where(d.c.bill_id == b.c.bill_id, d.c.kind == "INVOICE"))
    ))).rowcount
    credits = conn.execute(insert(d).from_select(columns, (
        select(literal("CRN-") + cn.c.credit_note_id, cn.c.bill_id, literal("CREDIT_NOTE"), a.c.email)
        .join(b, b.c.bill_id == cn.c.bill_id)
        .join(a, a.c.account_id == b.c.account_id)
        .where(cn.c.credit_dt <= day, ~exists().where(d.c.bill_id == cn.c.bill_id, d.c.kind == "CREDIT_NOTE"))
    ))).rowcount
    return invoices + credits


def send_documents(engine: Engine, notifier: Notifier, documents_folder: Path) -> SendOutcome:
    """Render and send every unsent document. Documents are read and rendered a chunk at a
    time; each is then claimed, sent and recorded in its own transaction."""
    with engine.connect() as conn:
        pending = conn.execute(
            select(bill_document.c.document_id).where(bill_document.c.sent_at.is_(None))
            .order_by(bill_document.c.document_id)
        ).scalars().all()
    printer = OutboxNotifier(documents_folder.parent / "print", transport="print")
    to_pdf = pdf_renderer()
    documents_folder.mkdir(parents=True, exist_ok=True)
    sent = printed = 0
    for start in range(0, len(pending), RENDER_CHUNK):
        with engine.connect() as conn:
            rendered = _render_chunk(conn, pending[start:start + RENDER_CHUNK])
        for document, number, html in rendered:
            html_path = documents_folder / f"{number}.html"
            html_path.write_text(html, encoding="utf-8")
            pdf_path = None
            if to_pdf is not None:
                pdf_path = documents_folder / f"{number}.pdf"
                pdf_path.write_bytes(to_pdf(html))
            message = _message(document, number, html, pdf_path)
            channel = notifier if document.recipient else printer
            now = datetime.now(timezone.utc)
            with engine.begin() as conn:
                claimed = conn.execute(
                    update(bill_document)
                    .where(bill_document.c.document_id == document.document_id, bill_document.c.sent_at.is_(None))
                    .values(html_path=str(html_path), pdf_path=pdf_path and str(pdf_path), rendered_at=now,
                            sent_at=now, transport=channel.transport, message_id=message["Message-ID"])
                ).rowcount
                if not claimed:  # another run sent it meanwhile
                    continue
                try:
                    channel.send(message, number)  # a failure rolls the claim back
                except (OSError, smtplib.SMTPException) as error:
                    raise BillingError(
                        f"sending {number} to {document.recipient or 'the print queue'} through {channel.transport} "
                        f"failed ({error}); {sent + printed} documents were sent before it and are recorded. Fix the "
                        f"mail server (BILLING_SMTP_*), then run the close of day again: it sends the rest."
                    ) from error
            sent, printed = (sent + 1, printed) if document.recipient else (sent, printed + 1)
    return SendOutcome(sent, printed)


def _render_chunk(conn: Connection, document_ids: list[str]) -> list[tuple]:
    """(document, number, HTML) for each document, from one query per table for the chunk."""
    documents = conn.execute(select(bill_document).where(bill_document.c.document_id.in_(document_ids))).all()
    bill_ids = {d.bill_id for d in documents}
    bills = {b.bill_id: b for b in conn.execute(select(bill).where(bill.c.bill_id.in_(bill_ids)))}
    credits = {c.bill_id: c for c in conn.execute(select(credit_note).where(credit_note.c.bill_id.in_(bill_ids)))}
    names = dict(conn.execute(
        select(accounts.c.account_id, persons.c.name).join(persons, persons.c.person_id == accounts.c.person_id)
        .where(accounts.c.account_id.in_({b.account_id for b in bills.values()}))
    ).all())
    s, c = bill_segment, bill_chg
    lines: dict[str, list] = {}
    for line in conn.execute(
        select(s.c.bill_id, s.c.bill_chg_id, s.c.amount, s.c.charge_amount, s.c.charge_currency_cd,
               s.c.exchange_rate, c.c.start_dt, c.c.end_dt,
               func.coalesce(c.c.description, c.c.price_item_cd + literal(" ") + c.c.param_value).label("description"))
        .join(c, c.c.bill_chg_id == s.c.bill_chg_id)
        .where(s.c.bill_id.in_(bill_ids))
        .order_by(s.c.bill_id, c.c.start_dt, s.c.bill_chg_id)
    ):
        lines.setdefault(line.bill_id, []).append(line)
    template = _TEMPLATES.get_template("invoice.html")
    rendered = []
    for document in sorted(documents, key=lambda d: d.document_id):
        the_bill = bills[document.bill_id]
        credit = credits.get(document.bill_id) if document.kind == "CREDIT_NOTE" else None
        number = credit.credit_number if credit else the_bill.invoice_number
        html = template.render(title="Credit note" if credit else "Invoice", number=number, bill=the_bill,
                               credit=credit, lines=lines.get(document.bill_id, []),
                               person=names.get(the_bill.account_id), sign="-" if credit else "")
        rendered.append((document, number, html))
    return rendered


def pdf_renderer() -> Callable[[str], bytes] | None:
    """HTML → PDF through weasyprint where it is installed, unless ``BILLING_PDF=N``."""
    if os.environ.get("BILLING_PDF", "Y").upper() in ("N", "NO", "0", "FALSE"):
        return None
    try:
        from weasyprint import HTML
    except (ImportError, OSError):  # not installed, or the OS lacks Pango
        return None
    return lambda html: HTML(string=html).write_pdf()


def _message(document, number: str, html: str, pdf_path: Path | None) -> MIMEMultipart:
    kind = "Credit note" if document.kind == "CREDIT_NOTE" else "Invoice"
    message = MIMEMultipart("mixed")
    message["Subject"] = f"{kind} {number}"
    message["From"] = sender_address()
    message["To"] = document.recipient or "print@localhost"
    message["Message-ID"] = f"<{document.document_id}@billing.local>"  # the same id if ever sent again
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(f"{kind} {number} is below{' and attached as PDF' if pdf_path else ''}.", "plain", "utf-8"))
    body.attach(MIMEText(html, "html", "utf-8"))
    message.attach(body)
    if pdf_path is not None:
        message.attach(MIMEApplication(pdf_path.read_bytes(), "pdf", Name=pdf_path.name))
        message.get_payload()[-1].add_header("Content-Disposition", "attachment", filename=pdf_path.name)
    return message


def documents_sent_on(conn: Connection, day: date) -> int:
    """Invoices of the bills completed on ``day`` that have been sent (or printed)."""
    joined = bill_document.join(bill, bill.c.bill_id == bill_document.c.bill_id)
    return conn.execute(select(func.count()).select_from(joined).where(
        and_(bill.c.completed_dt == day, bill_document.c.kind == "INVOICE", bill_document.c.sent_at.is_not(None))
    )).scalar()
