"""Where the program's processes start: the `loyalty` command (`entrypoints.cli`), the wiring
of bot, API and scheduler in one process (`entrypoints.runtime`) and the scheduler's jobs
(`entrypoints.scheduler`). The only package that imports every other one."""
