"""Progress lines: one per step off a terminal, one line redrawn on a terminal."""

from __future__ import annotations

import io

from analyses.progress import Progress, _clock


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_every_step_gets_its_own_line():
    lines: list[str] = []
    progress = Progress(3, lines.append, stream=io.StringIO())
    for name in ("a", "b", "c"):
        progress.step(name)
    assert [line.split("]")[0].strip() for line in lines] == ["[1/3", "[2/3", "[3/3"]
    assert lines[-1].endswith("(0 s left)")
    assert all("left" in line for line in lines)


def test_on_a_terminal_one_line_is_redrawn_and_ended():
    lines: list[str] = []
    screen = Terminal()
    progress = Progress(2, lines.append, stream=screen)
    progress.step("first")
    progress.step("second")
    assert not lines  # nothing goes to the log when drawing on a terminal
    text = screen.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and "[2/2] second" in text


def test_time_left_reads_as_minutes_past_a_minute():
    assert _clock(59.4) == "59 s"
    assert _clock(61) == "1:01"
    assert _clock(-3) == "0 s"


def test_reported_durations_estimate_the_time_left_of_steps_that_ran_elsewhere():
    lines: list[str] = []
    progress = Progress(4, lines.append, stream=io.StringIO())
    progress.step("a", seconds=2.0)  # arrived at once, after running in another process
    progress.step("b", seconds=4.0)
    assert lines[-1].endswith("(6 s left)")  # 2 steps left at 3 s each


def test_a_step_done_before_the_counter_started_says_so_instead_of_a_time_left():
    import time

    lines: list[str] = []
    progress = Progress(3, lines.append, stream=io.StringIO())
    progress.step("early", seconds=1.0, finished_at=time.time() - 5)
    progress.step("now", seconds=1.0, finished_at=time.time() + 1)
    assert lines[0].endswith("early (done in the background)")
    assert lines[1].endswith("now (1 s left)")
