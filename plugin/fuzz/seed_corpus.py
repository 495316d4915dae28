#!/usr/bin/env python3
"""Seeds each fuzz target's corpus under DIR/<target>/: the test corpus (tests/corpus) and a
realistic mailbox (tests/bench/seed.py --dump) as messages, the same messages as a server's
FETCH answers, submission servers' replies, and folder names in modified UTF-7. Idempotent: the same files each time."""

import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
SMTP_REPLIES = [
    b"220 mail.example.nl ESMTP\r\n250-mail.example.nl\r\n250-STARTTLS\r\n250 SIZE 1000\r\n"
    b"220 2.0.0 Ready\r\n250-mail.example.nl\r\n250-AUTH PLAIN XOAUTH2 OAUTHBEARER\r\n"
    b"250-PIPELINING\r\n250 SIZE 1000\r\n235 2.7.0 ok\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n"
    b"250 2.1.5 ok\r\n354 go\r\n250 2.0.0 queued\r\n221 2.0.0 bye\r\n",
    b"220 smtp.gmail.com ESMTP\r\n250-smtp.gmail.com\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
    b"220 go\r\n250-smtp.gmail.com\r\n250 AUTH XOAUTH2\r\n334 eyJzdGF0dXMiOiI0MDAifQ==\r\n"
    b"535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 https://support.google.com\r\n",
    b"220 x\r\n250-x\r\n250 STARTTLS\r\n220 x\r\n250 AUTH XOAUTH2\r\n235 ok\r\n250 ok\r\n"
    b"550 5.1.1 no such user\r\n250 ok\r\n250 reset\r\n",
]
FOLDER_NAMES = [b"INBOX", b"Verzonden items", b"&AMk-l&AOk-ments envoy&AOk-s",
                b"[Gmail]/Alle e-mail", b"Entw&APw-rfe", b"&ZeVnLIqe-", b"Archief/2026"]


def messages():
    found = sorted((ROOT / "tests" / "corpus").glob("*.eml"))
    out = [p.read_bytes() for p in found]
    with tempfile.TemporaryDirectory() as dump:
        subprocess.run([sys.executable, str(ROOT / "tests" / "bench" / "seed.py"), "--dump", dump,
                        "--count", "40", "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
        out += [p.read_bytes() for p in sorted(pathlib.Path(dump).glob("*.eml"))]
    return out


def fetch_answer(i, message):
    head = b"* %d FETCH (UID %d FLAGS (\\Seen) RFC822.SIZE %d BODY[] {%d}\r\n" % (
        i, i + 100, len(message), len(message))
    return head + message + b")\r\n"


def write(directory, name, data):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def main():
    corpus = pathlib.Path(sys.argv[1])
    mail = messages()
    for i, message in enumerate(mail):
        write(corpus / "normalize", f"{i:03}.eml", message)
        write(corpus / "header_repair", f"{i:03}.eml", message.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
        answer = fetch_answer(i + 1, message)
        write(corpus / "raw_fetch", f"{i:03}.txt", answer)
        write(corpus / "imap_responses", f"{i:03}.txt",
              b"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n" + answer + b"a1 OK done\r\n")
    for i, replies in enumerate(SMTP_REPLIES):
        write(corpus / "smtp_replies", f"{i:03}.txt", replies)
    for i, name in enumerate(FOLDER_NAMES):
        write(corpus / "utf7_round_trip", f"{i:03}.txt", name)


if __name__ == "__main__":
    main()
