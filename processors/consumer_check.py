"""Whether a durable consumer is still the one usagectl made.

Anyone allowed to create consumers on a hub can update an existing durable: a filter that
matches nothing, and that processor silently stops receiving events while its lag reads 0.
The processor checks its own durable now and then and recreates it from its read model's
cursor when it was changed; doctor reports it.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import AckPolicy
from nats.js.errors import NotFoundError

from .hubconn import BusSettings

CHECK_EVERY_S = 10.0


class ConsumerTampered(Exception):
    """Our durable's configuration was changed underneath us."""


async def changed(
    js: JetStreamContext, settings: BusSettings, name: str, subjects: list[str]
) -> str | None:
    """What differs from the pull consumer usagectl creates (None: nothing, or no consumer)."""
    try:
        info = await js.consumer_info(settings.stream, name)
    except NotFoundError:
        return None
    c = info.config
    found = sorted(c.filter_subjects or ([c.filter_subject] if c.filter_subject else []))
    if found != sorted(subjects):
        return f"filter {', '.join(found) or 'none'} instead of {', '.join(sorted(subjects))}"
    if c.deliver_subject:
        return f"made a push consumer delivering to {c.deliver_subject}"
    if c.ack_policy not in (AckPolicy.ALL, None):
        return f"ack policy {c.ack_policy} instead of all"
    return None


def tampered_line(name: str, what: str) -> str:
    return (
        f"the consumer {name} was changed underneath usagectl ({what}): the processor "
        "recreates it from its read model's cursor; check who may create consumers on the "
        "hub (`usagectl deploy hub-config`)"
    )
