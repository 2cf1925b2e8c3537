"""WarnServiceExpiration, WarnGraceDate and NoticeLongSuspend{Accounts,Services}: notices
sent through the notifier, each once.

A notice's id is its kind, its entity and the date it is about (the service's end date, the
account's grace date, the day the suspension began), so however often days re-run, a
notice is recorded once (``INSERT … SELECT`` of the missing ids) and sent once: each unsent
notice is claimed, handed to the notifier, and the claim committed — a failure rolls the
claim back and the next run sends it. Customers are written to at the account's e-mail
address (else its person's); system notices go to the operator address of the policy.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, Engine, String, cast, exists, func, insert, literal, select

from billing.closeofday.policy import CloseOfDayPolicy
from billing.db.money import dsign
from billing.db.schema import accounts, notice, persons, services
from billing.notify import Notifier, send_once, text_message

COLUMNS = ["notice_id", "kind", "entity_id", "business_dt", "recipient", "subject", "body"]


def _text(value) -> object:
    return cast(value, String)


def create_notices(conn: Connection, day: date, policy: CloseOfDayPolicy) -> dict[str, int]:
    a, s, p = accounts, services, persons
    customer = func.coalesce(a.c.email, p.c.email, literal(policy.operator_email))
    with_person = a.join(p, p.c.person_id == a.c.person_id)
    expiring = (
        select(literal("SERVICE_EXPIRATION:") + s.c.service_id + literal(":") + _text(s.c.end_dt),
               literal("SERVICE_EXPIRATION"), s.c.service_id, literal(day), customer,
               literal("Your service ") + func.coalesce(s.c.description, s.c.service_cd) + literal(" ends on ")
               + _text(s.c.end_dt),
               literal("Service ") + s.c.service_id + literal(" of account ") + a.c.account_id
               + literal(" ends on ") + _text(s.c.end_dt) + literal(". Contact us to renew it."))
        .select_from(s.join(with_person, a.c.account_id == s.c.account_id))
        .where(s.c.status == "OPEN", s.c.end_dt >= day,
               s.c.end_dt <= day + timedelta(days=policy.warn_service_expiration_days))
    )
    grace = (
        select(literal("GRACE_DATE:") + a.c.account_id + literal(":") + _text(a.c.grace_dt),
               literal("GRACE_DATE"), a.c.account_id, literal(day), customer,
               literal("Account ") + a.c.account_id + literal(": payment due by ") + _text(a.c.grace_dt),
               literal("Account ") + a.c.account_id + literal(" has ") + _text(a.c.past_due_balance) + literal(" ")
               + a.c.currency_cd + literal(" past due. Please pay by ") + _text(a.c.grace_dt)
               + literal(" to keep your services open."))
        .select_from(with_person)
        .where(a.c.grace_dt >= day, a.c.grace_dt <= day + timedelta(days=policy.warn_grace_days),
               dsign(a.c.past_due_balance) == 1)
    )
    long_since = day - timedelta(days=policy.long_suspension_days)
    kinds = {"WarnServiceExpiration": expiring, "WarnGraceDate": grace}
    for name, kind, table, key in (("NoticeLongSuspendAccounts", "LONG_SUSPENSION_ACCOUNT", a, a.c.account_id),
                                   ("NoticeLongSuspendServices", "LONG_SUSPENSION_SERVICE", s, s.c.service_id)):
        kinds[name] = (
            select(literal(f"{kind}:") + key + literal(":") + _text(table.c.status_dt),
                   literal(kind), key, literal(day), literal(policy.operator_email),
                   literal(f"{name}: ") + key + literal(" suspended since ") + _text(table.c.status_dt),
                   key + literal(" has been SUSPENDED (") + func.coalesce(table.c.status_reason, literal("?"))
                   + literal(") since ") + _text(table.c.status_dt)
                   + literal(": reopen it, or it is closed after the policy's close_suspended_after_days."))
            .where(table.c.status == "SUSPENDED", table.c.status_dt <= long_since)
        )
    counts = {}
    for name, query in kinds.items():
        new = query.subquery()
        first = list(new.c)[0]
        counts[name] = conn.execute(insert(notice).from_select(
            COLUMNS, select(*new.c).where(~exists().where(notice.c.notice_id == first)))).rowcount
    return counts


def send_notices(engine: Engine, notifier: Notifier) -> int:
    """Send every unsent notice, each claimed and recorded in its own transaction."""
    with engine.connect() as conn:
        pending = conn.execute(select(notice).where(notice.c.sent_at.is_(None)).order_by(notice.c.notice_id)).all()
    sent = 0
    for item in pending:
        message = text_message(item.subject, item.recipient, item.notice_id.replace(":", "."), item.body)
        if not send_once(engine, notice, "notice_id", item.notice_id, notifier, message,
                         "notice-" + item.notice_id.replace(":", "-"),
                         lambda error, item=item, sent=sent: (
                             f"sending notice {item.notice_id} to {item.recipient} through {notifier.transport} "
                             f"failed ({error}); {sent} notices were sent before it. Fix the mail server "
                             f"(BILLING_SMTP_*), then run the close of day again: it sends the rest.")):
            continue
        sent += 1
    return sent

