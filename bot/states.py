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
