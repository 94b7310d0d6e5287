from aiogram.fsm.state import State, StatesGroup


class SignUp(StatesGroup):
    consent = State()
    phone = State()
    birthday = State()
    city = State()
