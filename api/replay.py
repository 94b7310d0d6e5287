"""Answers to idempotent writes as HTTP: the status an outcome is given, and the header that
tells a replay from the first answer."""

from __future__ import annotations

from fastapi import Response, status

from loyalty.idempotency import Outcome

STATUS = {Outcome.created: status.HTTP_201_CREATED, Outcome.done: status.HTTP_200_OK}


def answer_as(response: Response, outcome: Outcome, *, replayed: bool) -> None:
    response.status_code = STATUS[outcome]
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
