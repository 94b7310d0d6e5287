from aiogram.fsm.state import State, StatesGroup


class SignUp(StatesGroup):
    consent = State()
    phone = State()
    birthday = State()
    city = State()


class Broadcast(StatesGroup):
    """/broadcast, one step per state; what is chosen waits in FSM data until it is confirmed."""

    segment = State()
    text = State()
    coupon = State()
    when = State()
    repeat = State()
    review = State()


class Feedback(StatesGroup):
    """The survey's follow-up (FSM data: survey_id) and /feedback's message."""

    comment = State()
    message = State()


class FeedbackReply(StatesGroup):
    """A staff member writing the answer to a member's message (FSM data: message_id)."""

    text = State()
