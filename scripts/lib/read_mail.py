#!/usr/bin/env python3
"""Reads the messages an SMTP server delivered to a Maildir and prints them as JSON lines,
oldest first: one object per message with its envelope recipient (Delivered-To), the headers
campushub sets (Message-ID, Date, From, To, Subject, List-Unsubscribe, List-Unsubscribe-Post)
and both bodies decoded (text/plain and text/html). Used by the tests (they read what the
worker sent) and by people (scripts/mail).

    read_mail.py MAILDIR [--to ADDRESS] [--since EPOCH_S]
"""
import argparse
import email
import email.policy
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("maildir")
    ap.add_argument("--to", help="only messages delivered to this address")
    ap.add_argument("--since", type=float, default=0.0, help="only files delivered at or after this time (s since the epoch)")
    args = ap.parse_args()
    found = []
    for sub in ("new", "cur"):
        folder = os.path.join(args.maildir, sub)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
                if st.st_mtime < args.since:
                    continue
                with open(path, "rb") as f:
                    msg = email.message_from_binary_file(f, policy=email.policy.default)
            except OSError as e:
                print(f"read_mail: {path}: {e}", file=sys.stderr)
                continue
            to = str(msg.get("Delivered-To", ""))
            if args.to and to.lower() != args.to.lower():
                continue
            text = msg.get_body(preferencelist=("plain",))
            html = msg.get_body(preferencelist=("html",))
            found.append((st.st_mtime, name, {
                "file": path,
                "delivered_to": to,
                "message_id": str(msg.get("Message-ID", "")),
                "date": str(msg.get("Date", "")),
                "from": str(msg.get("From", "")),
                "to": str(msg.get("To", "")),
                "subject": str(msg.get("Subject", "")),
                "content_type": msg.get_content_type(),
                "list_unsubscribe": str(msg.get("List-Unsubscribe", "")),
                "list_unsubscribe_post": str(msg.get("List-Unsubscribe-Post", "")),
                "text": text.get_content() if text is not None else "",
                "html": html.get_content() if html is not None else "",
            }))
    found.sort(key=lambda t: (t[0], t[1]))
    for _, _, m in found:
        print(json.dumps(m))


if __name__ == "__main__":
    main()
