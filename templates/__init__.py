"""The texts the bot sends: `messages/<locale>/<key>.j2` and `messages/regions.toml`.

A package only so that they travel as its data: an installed wheel finds them with
importlib.resources, wherever it was installed, as a checkout does."""
