"""The reward catalogue, and the till confirming a redeemed reward.

The routes only translate; the rules live in loyalty/rewards.py. Catalogue changes and every
code used at a till are audited under the API key's name.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from api.deps import ApiKeyDep, ClockDep, SettingsDep, UowDep
from api.route_docs import INVALID, NOT_FOUND
from api.schemas import (
    ErrorPublic,
    RedemptionPublic,
    RedemptionUse,
    RewardCreate,
    RewardPublic,
    RewardsPublic,
    RewardUpdate,
)
from loyalty import rewards

router = APIRouter(tags=["rewards"])

MAX_PAGE_SIZE = 200
MAX_PAGE = 1_000_000_000  # keeps the row offset inside a 64-bit integer



def _redemption_code(raw: str) -> str:
    code = rewards.normalize_redemption_code(raw)
    if code is None:
        raise PydanticCustomError(
            "redemption_code", "not a redemption code: expected RW-XXXX-XXXX-XXXX (dashes optional)"
        )
    return code


RewardCode = Annotated[
    str, Path(pattern=rewards.REWARD_CODE.pattern, description="The reward's code.", examples=["LATTE"])
]
RedemptionCode = Annotated[
    str,
    Path(
        description="The code the member shows, in any case, with or without dashes.",
        examples=["RW-7KQ4-M9XD-2HPA"],
    ),
    AfterValidator(_redemption_code),
]


# --- the catalogue -------------------------------------------------------------------------


@router.get("/rewards", summary="List rewards, oldest first")
async def list_rewards(
    uow: UowDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    active: Annotated[bool | None, Query(description="Only active (true) or inactive (false) ones.")] = None,
) -> RewardsPublic:
    rows, count = await rewards.list_rewards(uow, page=page, page_size=page_size, active=active)
    return RewardsPublic(
        data=[RewardPublic.from_definition(row) for row in rows], count=count, page=page, page_size=page_size
    )


@router.get(
    "/rewards/{code}",
    name="get_reward",
    summary="Get a reward",
    responses={status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such reward"}},
)
async def get_reward(code: RewardCode, uow: UowDep) -> RewardPublic:
    return RewardPublic.from_definition(await rewards.reward_definition(uow, code))


@router.post(
    "/rewards",
    status_code=status.HTTP_201_CREATED,
    summary="Add a reward to the catalogue",
    description=(
        "Members see it in the chat while it is active and inside its window. Its value is in "
        "the program's currency. The answer's `Location` header is the reward's URL."
    ),
    responses={
        status.HTTP_409_CONFLICT: {"model": ErrorPublic, "description": "A reward has this code"},
        status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID,
    },
)
async def create_reward(
    body: RewardCreate,
    request: Request,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: ApiKeyDep,
) -> RewardPublic:
    definition = await rewards.create_reward(
        uow,
        clock,
        rewards.RewardSpec(**body.model_dump()),
        program_currency=settings.currency,
        actor=f"apikey:{api_key.name}",
    )
    response.headers["Location"] = str(request.app.url_path_for("get_reward", code=definition.reward.code))
    return RewardPublic.from_definition(definition)


@router.patch(
    "/rewards/{code}",
    summary="Change a reward",
    description=(
        "Only the fields sent change. `stock` is set to the number sent (null: unlimited), so a "
        "restock is a PATCH too. Redemptions already issued are honoured whatever changes."
    ),
    responses={
        status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such reward"},
        status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID,
    },
)
async def update_reward(
    code: RewardCode,
    body: RewardUpdate,
    uow: UowDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: ApiKeyDep,
) -> RewardPublic:
    definition = await rewards.update_reward(
        uow,
        clock,
        code,
        body.model_dump(exclude_unset=True),
        program_currency=settings.currency,
        actor=f"apikey:{api_key.name}",
    )
    return RewardPublic.from_definition(definition)


# --- the till --------------------------------------------------------------------------------


@router.get(
    "/redemptions/{code}",
    summary="Look up a redemption code a member shows",
    responses={status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such code"}},
)
async def get_redemption(code: RedemptionCode, uow: UowDep) -> RedemptionPublic:
    return RedemptionPublic.from_details(await rewards.find_redemption(uow, code))


@router.post(
    "/redemptions/{code}/use",
    summary="Hand the reward over: mark the code used",
    description=(
        "A code is used once: a second use, or the use of a cancelled code, is a 409 whose "
        "`detail` says which. Audited under the API key's name."
    ),
    responses={
        status.HTTP_404_NOT_FOUND: NOT_FOUND | {"description": "No such code"},
        status.HTTP_409_CONFLICT: {"model": ErrorPublic, "description": "Already used, or cancelled"},
        status.HTTP_422_UNPROCESSABLE_CONTENT: INVALID,
    },
)
async def use_redemption(
    code: RedemptionCode,
    uow: UowDep,
    clock: ClockDep,
    api_key: ApiKeyDep,
    body: RedemptionUse | None = None,
) -> RedemptionPublic:
    redemption = await rewards.use_redemption(
        uow, clock, code=code, store_code=body.store if body else None, actor=f"apikey:{api_key.name}"
    )
    return RedemptionPublic.from_details(await rewards.find_redemption(uow, redemption.code))
