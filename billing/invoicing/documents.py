"""queue_billingdocs and send_documents: each completed bill (and each credit note) becomes a
document, rendered to HTML and sent once.

Queueing is one ``INSERT … SELECT`` of a ``bill_document`` row per completed bill or credit
note that has none. Sending takes the unsent documents one by one — each is an e-mail — and
records it as sent in its own transaction right after the notifier accepted it, so a re-run
(or a run after a crash) never sends a recorded document again. An account with no e-mail
address gets its document in the print queue (``outbox/print``) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from email.message import EmailMessage
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Connection, Engine, and_, exists, func, insert, literal, select, update

from billing.db.schema import accounts, bill, bill_chg, bill_document, bill_segment, credit_note, persons
from billing.notify import Notifier, OutboxNotifier, sender_address

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
    """Render and send every unsent document, each recorded in its own transaction."""
    with engine.connect() as conn:
        pending = conn.execute(
            select(bill_document.c.document_id).where(bill_document.c.sent_at.is_(None))
            .order_by(bill_document.c.document_id)
        ).scalars().all()
    printer = OutboxNotifier(documents_folder.parent / "print", transport="print")
    sent = printed = 0
    for document_id in pending:
        with engine.begin() as conn:
            document = conn.execute(select(bill_document).where(bill_document.c.document_id == document_id)).first()
            if document.sent_at is not None:  # another run sent it meanwhile
                continue
            number, html = render_document(conn, document)
            documents_folder.mkdir(parents=True, exist_ok=True)
            html_path = documents_folder / f"{number}.html"
            html_path.write_text(html, encoding="utf-8")
            message = _message(document, number, html)
            channel = notifier if document.recipient else printer
            channel.send(message, number)
            conn.execute(update(bill_document).where(bill_document.c.document_id == document_id).values(
                html_path=str(html_path), rendered_at=datetime.now(timezone.utc), sent_at=datetime.now(timezone.utc),
                transport=channel.transport, message_id=message["Message-ID"]))
        if document.recipient:
            sent += 1
        else:
            printed += 1
    return SendOutcome(sent, printed)


def render_document(conn: Connection, document) -> tuple[str, str]:
    """(document number, HTML) of an invoice or a credit note."""
    the_bill = conn.execute(select(bill).where(bill.c.bill_id == document.bill_id)).first()
    credit = None
    if document.kind == "CREDIT_NOTE":
        credit = conn.execute(select(credit_note).where(credit_note.c.bill_id == document.bill_id)).first()
    s, c = bill_segment, bill_chg
    lines = conn.execute(
        select(s.c.bill_chg_id, s.c.amount, s.c.charge_amount, s.c.charge_currency_cd, s.c.exchange_rate,
               c.c.start_dt, c.c.end_dt,
               func.coalesce(c.c.description, c.c.price_item_cd + literal(" ") + c.c.param_value).label("description"))
        .join(c, c.c.bill_chg_id == s.c.bill_chg_id)
        .where(s.c.bill_id == the_bill.bill_id)
        .order_by(c.c.start_dt, s.c.bill_chg_id)
    ).all()
    person = conn.execute(
        select(persons.c.name).join(accounts, accounts.c.person_id == persons.c.person_id)
        .where(accounts.c.account_id == the_bill.account_id)
    ).scalar()
    number = credit.credit_number if credit else the_bill.invoice_number
    html = _TEMPLATES.get_template("invoice.html").render(
        title="Credit note" if credit else "Invoice", number=number, bill=the_bill, credit=credit, lines=lines,
        person=person, sign="-" if credit else "")
    return number, html


def _message(document, number: str, html: str) -> EmailMessage:
    message = EmailMessage()
    kind = "Credit note" if document.kind == "CREDIT_NOTE" else "Invoice"
    message["Subject"] = f"{kind} {number}"
    message["From"] = sender_address()
    message["To"] = document.recipient or "print@localhost"
    message["Message-ID"] = f"<{document.document_id}@billing.local>"  # the same id if ever sent again
    message.set_content(f"{kind} {number} is attached as HTML.")
    message.add_alternative(html, subtype="html")
    return message


def documents_sent_on(conn: Connection, day: date) -> int:
    """Invoices of the bills completed on ``day`` that have been sent (or printed)."""
    joined = bill_document.join(bill, bill.c.bill_id == bill_document.c.bill_id)
    return conn.execute(select(func.count()).select_from(joined).where(
        and_(bill.c.completed_dt == day, bill_document.c.kind == "INVOICE", bill_document.c.sent_at.is_not(None))
    )).scalar()
