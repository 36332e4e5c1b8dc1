"""Delivering a briefing: a file pair (always), ntfy and webhooks (through :mod:`hydra_os.notify`), and
email (SMTP, stdlib ``smtplib`` in a thread: multipart text + HTML). Each channel is tried on its own;
a failed channel is reported, the others still go out."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from hydra_os.notify import Notification, NotifyError, NtfyNotifier, WebhookNotifier
from hydra_os.secrets import read_optional_secret
from hydra_os.sections.briefing import BriefingConfig
from pipelines.briefing.errors import DeliveryError
from pipelines.research.store import write_atomic

NTFY_MAX = 3800  # ntfy keeps messages up to 4096 bytes as text


async def to_files(directory: Path, stem: str, md: str, page: str) -> list[str]:
    paths = [directory / f"{stem}.md", directory / f"{stem}.html"]
    await asyncio.to_thread(write_atomic, paths[0], md)
    await asyncio.to_thread(write_atomic, paths[1], page)
    return [str(p) for p in paths]


def _send_mail(cfg: BriefingConfig, subject: str, md: str, page: str) -> None:
    """Blocking: one multipart/alternative message to every recipient."""
    assert cfg.smtp_host and cfg.email_from
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, cfg.email_from, ", ".join(cfg.email_to)
    msg["Date"], msg["Message-ID"] = formatdate(localtime=True), make_msgid(domain="hydra-os")
    msg.set_content(md)
    msg.add_alternative(page, subtype="html")
    password = read_optional_secret(cfg.smtp_password_file, "SMTP password")
    try:
        if cfg.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s)
        with smtp:
            if cfg.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if cfg.smtp_username and password:
                smtp.login(cfg.smtp_username, password)
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as e:
        raise DeliveryError(f"email via {cfg.smtp_host}:{cfg.smtp_port}: {type(e).__name__}: {e}") from None


async def deliver(cfg: BriefingConfig, subject: str, md: str, page: str, headline: str,
                  link: str | None = None) -> dict[str, Any]:
    """Send on every configured channel except ``file``; returns ``{channel: "sent" | error}``."""
    out: dict[str, Any] = {}
    data = {"markdown": md, "html": page, **({"link": link} if link else {})}
    for ch in cfg.deliver:
        try:
            if ch == "ntfy":
                assert cfg.ntfy_url and cfg.ntfy_topic
                token = read_optional_secret(cfg.ntfy_token_file, "ntfy token")
                body = md if len(md.encode()) <= NTFY_MAX else md.encode()[:NTFY_MAX].decode(errors="ignore") + "\n…"
                await NtfyNotifier(cfg.ntfy_url, cfg.ntfy_topic, token, cfg.timeout_s).send(
                    Notification(title=subject, message=body, tags=["briefing"]))
            elif ch == "webhook":
                assert cfg.webhook_url
                token = read_optional_secret(cfg.webhook_token_file, "webhook token")
                await WebhookNotifier(cfg.webhook_url, token, cfg.timeout_s).send(
                    Notification(title=subject, message=headline, tags=["briefing"], data=data))
            elif ch == "email":
                await asyncio.to_thread(_send_mail, cfg, subject, md, page)
            else:
                continue
            out[ch] = "sent"
        except (NotifyError, DeliveryError) as e:
            out[ch] = f"failed: {e}"
        except Exception as e:  # a secret file missing etc.: report it on this channel, keep the others
            out[ch] = f"failed: {type(e).__name__}: {e}"
    return out
