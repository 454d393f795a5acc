"""scripts/lib/smtp_server.py: owns the SMTP server of the local service stack (scripts/lib/stack.sh
starts and stops it as the service `smtp`). Python 3 standard library and aiosmtpd 1.4 only.

    PYTHON scripts/lib/smtp_server.py --dir DIR --port PORT

PYTHON is a python3 that imports aiosmtpd (Debian's python3-aiosmtpd installs it for
/usr/bin/python3, which a pyenv or virtualenv python3 earlier on PATH does not see; stack.sh's
smtp_python picks one). It listens on 127.0.0.1:PORT only and:
  - requires STARTTLS before anything but EHLO, NOOP and QUIT (530 otherwise), with the
    certificate DIR/smtp/server.pem (key DIR/smtp/server.key), signed by the stack's own CA
    (DIR/smtp/ca.pem, the one root a client needs); TLS 1.2 at least;
  - then requires AUTH PLAIN or LOGIN, offered only over TLS, as user campushub with the password
    in DIR/smtp_password (64 hex digits; 535 when wrong);
  - refuses RCPT TO a domain under .invalid (RFC 2606) with "550 5.1.1 <addr>: Recipient address
    rejected: mailbox unavailable" (a bounce on demand for tests) and accepts every other address;
  - delivers one copy per accepted recipient into the Maildir DIR/mail (new/ holds one file per
    message and recipient, written to tmp/ and then moved, so a reader never sees half of one),
    with "Return-Path: <sender>" and "Delivered-To: recipient" prepended as Postfix does and the
    message otherwise as received, its CRLF line ends stored as LF (the Maildir convention);
  - logs one line per accepted message (from, to, Message-ID, size), refused recipient and failed
    log-in to stdout, never a password;
  - names its process campushub-smtp (/proc/PID/comm, what stack.sh's pid_is compares), writes
    its pid to DIR/run/smtp.pid once it listens, and stops on SIGTERM or SIGINT (the pid file
    goes with it).
Bad arguments, missing files and a port in use: one line on stderr, exit status 2 or 1.
aiosmtpd 1.4 refuses the null sender (MAIL FROM:<>) with 501.
"""

import argparse
import asyncio
import email.parser
import email.policy
import hmac
import logging
import mailbox
import os
import re
import signal
import ssl
import sys
import time

USER = b"campushub"
PROC_NAME = "campushub-smtp"


def fail(msg, status=1):
    print(f"error: smtp_server.py: {msg}", file=sys.stderr)
    sys.exit(status)


try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    fail(f"aiosmtpd not found for {sys.executable} (apt-get install python3-aiosmtpd)")


def log(msg):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"{stamp} {msg}", flush=True)


class OneLineFormatter(logging.Formatter):
    """aiosmtpd's own log records (logger mail.log: a TLS handshake that failed, a session
    error) as one line each, the exception chain summed up instead of a traceback."""

    converter = time.gmtime

    def formatException(self, ei):
        parts, e = [], ei[1]
        while e is not None and len(parts) < 5:
            parts.append(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
            e = e.__cause__ or e.__context__
        return " <- ".join(parts)

    def format(self, record):
        return " ".join(super().format(record).split("\n"))


def setup_logging():
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLineFormatter("%(asctime)s aiosmtpd %(levelname)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ"))
    logger = logging.getLogger("mail.log")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    # smtp_AUTH itself sets the deprecated Session.login_data, which warns on every log-in.
    logger.addFilter(lambda record: "login_data is deprecated" not in record.getMessage())


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        fail(f"{message} (usage: smtp_server.py --dir DIR --port PORT)", 2)


def is_invalid_domain(address):
    domain = address.rpartition("@")[2].rstrip(".").lower()
    return domain == "invalid" or domain.endswith(".invalid")


class Handler:
    """aiosmtpd hooks: RCPT (refuses .invalid) and DATA (Maildir delivery)."""

    def __init__(self, maildir):
        self.maildir = maildir

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if is_invalid_domain(address):
            log(f"refused from=<{envelope.mail_from}> to=<{address}>: .invalid domain")
            return f"550 5.1.1 <{address}>: Recipient address rejected: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b""
        if isinstance(content, str):  # only with decode_data=True, which this server never sets
            content = content.encode("utf-8", "surrogateescape")
        body = content.replace(b"\r\n", b"\n")
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(body)
        message_id = " ".join(str(headers.get("Message-ID", "-")).split())
        keys = []
        try:
            for rcpt in envelope.rcpt_tos:
                trace = f"Return-Path: <{envelope.mail_from}>\nDelivered-To: {rcpt}\n"
                keys.append(self.maildir.add(trace.encode("utf-8") + body))
        except OSError as e:
            log(f"failed from=<{envelope.mail_from}> message-id={message_id}: {e}")
            return "451 4.3.0 Error: local delivery failed"
        to = ",".join(f"<{r}>" for r in envelope.rcpt_tos)
        log(f"accepted from=<{envelope.mail_from}> to={to} message-id={message_id} size={len(content)}")
        return f"250 2.0.0 OK: queued as {keys[0]}"


def make_authenticator(password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            # Both compared every time, in constant time.
            user_ok = hmac.compare_digest(auth_data.login, USER)
            password_ok = hmac.compare_digest(auth_data.password, password)
            if user_ok and password_ok:
                return AuthResult(success=True, auth_data=auth_data.login)
        peer = session.peer[0] if session.peer else "?"
        log(f"auth failed mechanism={mechanism} peer={peer}")
        # handled=False: smtp_AUTH answers "535 5.7.8 Authentication credentials invalid"
        # (with the default handled=True it would answer nothing and the client would hang).
        return AuthResult(success=False, handled=False)

    return authenticate


def read_password(path):
    try:
        with open(path, "rb") as f:
            password = f.readline().strip()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    if not re.fullmatch(rb"[0-9a-f]{64}", password):
        fail(f"{path} does not hold 64 hex digits")
    return password


def tls_context(smtp_dir):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # no client certificates, no hostname check
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(os.path.join(smtp_dir, "server.pem"), os.path.join(smtp_dir, "server.key"))
    except (OSError, ssl.SSLError) as e:
        fail(f"cannot load {smtp_dir}/server.pem and server.key: {e}")
    return ctx


def write_pid(path):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def remove_pid(path):
    try:
        with open(path) as f:
            if f.readline().strip() != str(os.getpid()):
                return
        os.unlink(path)
    except OSError:
        pass


async def serve(args, password, ctx, maildir, pidfile):
    loop = asyncio.get_running_loop()
    handler = Handler(maildir)
    authenticator = make_authenticator(password)

    def factory():
        return SMTP(
            handler,
            hostname="localhost",
            ident="campushub local stack (aiosmtpd)",
            tls_context=ctx,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=authenticator,
            enable_SMTPUTF8=True,
            loop=loop,
        )

    try:
        server = await loop.create_server(factory, host="127.0.0.1", port=args.port)
    except OSError as e:
        fail(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror or e}")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(PROC_NAME)
    except OSError:
        pass
    try:
        write_pid(pidfile)
    except OSError as e:
        server.close()
        fail(f"cannot write {pidfile}: {e.strerror}")
    log(f"listening on 127.0.0.1:{args.port} (pid {os.getpid()}), Maildir {args.dir}/mail")
    try:
        await stop.wait()
    finally:
        server.close()
        remove_pid(pidfile)
    log("stopped")


def main():
    parser = OneLineParser(prog="smtp_server.py", description="the campushub stack's SMTP server")
    parser.add_argument("--dir", required=True, help="the stack directory")
    parser.add_argument("--port", required=True, type=int, help="TCP port on 127.0.0.1")
    args = parser.parse_args()
    setup_logging()
    if not 1 <= args.port <= 65535:
        fail(f"bad port {args.port}", 2)
    if not os.path.isdir(args.dir):
        fail(f"no stack directory {args.dir}", 2)
    args.dir = os.path.abspath(args.dir)
    password = read_password(os.path.join(args.dir, "smtp_password"))
    ctx = tls_context(os.path.join(args.dir, "smtp"))
    try:
        maildir = mailbox.Maildir(os.path.join(args.dir, "mail"), create=True)
        for sub in ("cur", "new", "tmp"):  # create=True makes them only with the Maildir itself
            os.makedirs(os.path.join(args.dir, "mail", sub), mode=0o700, exist_ok=True)
    except OSError as e:
        fail(f"cannot create the Maildir {args.dir}/mail: {e.strerror}")
    pidfile = os.path.join(args.dir, "run", "smtp.pid")
    asyncio.run(serve(args, password, ctx, maildir, pidfile))


if __name__ == "__main__":
    main()
