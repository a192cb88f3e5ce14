"""Tasks for the Python frameworks' drivers: one that works, one that raises."""


def ok(value):
    return value


def boom():
    raise ValueError("boom: a task that fails, for the dead-letter counts")


def slow():
    import time

    time.sleep(300)  # in flight until its worker is killed
