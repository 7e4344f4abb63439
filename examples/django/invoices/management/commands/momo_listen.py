"""manage.py momo_listen: follows momo's change feed.

For each payment of an invoice that becomes final, records one notice in
shop.payment_notices (where a real shop would send the customer a receipt)
and marks the invoice if the DBA's trigger has not already.  It keeps its
position in shop.feed_position, so after being down it catches up on every
change it missed; LISTEN momo_payments only wakes it sooner.  Works behind a
transaction pooler with --once from cron (no session state between polls).
"""
import re
import select
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection, transaction

# The README's feed-poll recipe (its query, between check-readme.sh's markers,
# which keep it identical to the README's), for the shop's consumer: the changes
# after the position, at most 100, and the position moved past them, in the
# transaction that acts on them.  feed_position is shop.feed_position through
# the connection's search_path (settings.py).  Then the columns the listener
# acts on, of every row: one with only a number counts too, the position moved.
# recipe-part: feed-poll
POLL_CHANGES = """
WITH pos AS (
    SELECT after FROM feed_position WHERE consumer = 'shop' FOR UPDATE
), changes AS (
    SELECT c.* FROM pos, momo_changes(pos.after, 100) AS c
), moved AS (
    UPDATE feed_position SET after = (SELECT max(seq) FROM changes)
     WHERE consumer = 'shop' AND EXISTS (SELECT FROM changes)
)
"""
# end recipe
POLL = POLL_CHANGES + "SELECT seq, reference_id, status, reason, changed_at FROM changes ORDER BY seq\n"


class Command(BaseCommand):
    help = "Follow momo's change feed: a notice per final invoice payment, once, catching up after downtime."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="catch up, then exit")
        parser.add_argument("--interval", type=float, default=10.0,
                            help="seconds between polls when no notification comes (default 10)")
        parser.add_argument("--timeout", type=float, default=None,
                            help="stop after this many seconds (default: never)")
        parser.add_argument("--wakeups", type=int, default=None,
                            help="stop after this many wake-ups by a notification, each followed by a poll")

    def handle(self, *args, once=False, interval=10.0, timeout=None, wakeups=None, **options):
        deadline = None if timeout is None else time.monotonic() + timeout
        verbose = options.get("verbosity", 1) >= 2
        if not once:
            with connection.cursor() as cur:     # autocommit: LISTEN takes effect at once
                cur.execute("LISTEN momo_payments")
        woken = 0
        listening = not once
        while True:
            while self.poll() > 0:               # catch up, a batch per transaction
                pass
            if once or (wakeups is not None and woken >= wakeups):
                return
            if listening and verbose:
                self.stdout.write("listening")       # caught up; notifications wake it from here on
                listening = False
            wait = interval
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return
            raw = connection.connection
            select.select([raw], [], [], wait)   # a notification is only a hint to poll:
            raw.poll()                           # its payload, which anyone may send
            if raw.notifies:                     # (pg_notify), is never trusted
                woken += 1
                if verbose:
                    self.stdout.write(f"woken by {len(raw.notifies)} notification(s)")
            raw.notifies.clear()

    def poll(self):
        """Acts on the next changes and moves the position past them, in one
        transaction: each change is acted on once (or again, if it rolls back).
        Returns how many changes it read (0: caught up).  Behind the feed's
        horizon (it was down longer than momo.event_retention), it re-reads the
        payments instead, as momo's hint says, and goes on from the horizon."""
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(POLL)
                rows = cur.fetchall()
                for seq, reference_id, status, reason, changed_at in rows:
                    self.act(cur, seq, reference_id, status, reason, changed_at)
            return len(rows)
        except DatabaseError as e:
            # 55000, "changes of payments after N are no longer kept", whose
            # hint names the number to go on from
            cause = e.__cause__
            horizon = re.search(r"the changes after (\d+)\.", getattr(getattr(cause, "diag", None), "message_hint", None) or "")
            if getattr(cause, "pgcode", None) != "55000" or horizon is None:
                raise
            return self.reread(int(horizon.group(1)))

    def reread(self, horizon):
        """The changes up to horizon were purged before the listener saw them:
        the final payments of the invoices it has no notice of are read from
        momo_payments (their seq in the notice is the horizon), and the position
        moves to the horizon, in one transaction.  Returns 1 (poll again)."""
        self.stderr.write(f"the feed's changes up to {horizon} were purged before they were read: "
                          "re-reading the invoices' payments from momo_payments")
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT after FROM shop.feed_position WHERE consumer = 'shop' FOR UPDATE")
            cur.execute("""
                SELECT p.reference_id, p.status, p.reason, p.updated_at
                  FROM shop.invoices i JOIN momo_payments p ON p.reference_id = i.payment_ref
                 WHERE p.status IN ('successful', 'failed')
                   AND NOT EXISTS (SELECT FROM shop.payment_notices n WHERE n.reference_id = p.reference_id)""")
            for reference_id, status, reason, updated_at in cur.fetchall():
                self.act(cur, horizon, reference_id, status, reason, updated_at)
            cur.execute("UPDATE shop.feed_position SET after = %s WHERE consumer = 'shop' AND after < %s",
                        [horizon, horizon])
        return 1

    def act(self, cur, seq, reference_id, status, reason, changed_at):
        """One change: a notice and the invoice marked, once its payment is final."""
        if status not in ("successful", "failed"):
            return                               # not final (or a row with only a number)
        cur.execute("""
            INSERT INTO shop.payment_notices (reference_id, invoice_no, status, reason, seq)
            SELECT payment_ref, invoice_no, %s, %s, %s FROM shop.invoices WHERE payment_ref = %s
            ON CONFLICT (reference_id) DO NOTHING
            RETURNING invoice_no""", [status, reason, seq, reference_id])
        noticed = cur.fetchone()
        cur.execute("""
            UPDATE shop.invoices
               SET status = CASE %s WHEN 'successful' THEN 'paid' ELSE 'payment failed' END,
                   paid_at = CASE %s WHEN 'successful' THEN %s::timestamptz END,
                   failure_reason = %s
             WHERE payment_ref = %s AND status = 'open'""",
                    [status, status, changed_at, reason, reference_id])
        if noticed:
            self.stdout.write(f"invoice {noticed[0]}: payment {status}" + (f" ({reason})" if reason else ""))
