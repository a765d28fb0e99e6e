"""Memory and Duration: parsing, arithmetic, formatting, immutability."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrms import Duration, Memory

KIB, MIB, GIB = 1024, 1024**2, 1024**3
# Deterministic and leaves no example database behind.
PROPERTY = settings(database=None, derandomize=True, deadline=None, max_examples=300)

# -- Memory: parsing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [
        ("4GB", 4 * 10**9),
        ("4 GiB", 4 * GIB),
        ("512MiB", 512 * MIB),
        ("2G", 2 * GIB),  # a bare G is binary, as schedulers write it
        ("1.5G", 1536 * MIB),
        ("100", 100),
        ("100B", 100),
        ("1kb", 1000),
        ("1K", KIB),
        ("3 TiB", 3 * 1024**4),
        (" 4gib ", 4 * GIB),
        (".5GiB", 512 * MIB),
    ],
)
def test_memory_parses(text, nbytes):
    assert Memory(text).bytes == nbytes


def test_memory_from_int_and_from_memory():
    assert Memory(123).bytes == 123
    assert Memory(Memory("2GiB")).bytes == 2 * GIB
    assert Memory(0).bytes == 0


def test_memory_from_units():
    assert Memory.from_units(5.867, "MB").bytes == 5_867_000
    assert Memory.from_units(2, "GiB") == Memory("2GiB")
    with pytest.raises(ValueError, match="parsecs"):
        Memory.from_units(1, "parsecs")


@pytest.mark.parametrize("text", ["4 GBs", "", "abc", "-1G", "4 G B", "GiB", "1e3", "4 XB"])
def test_memory_bad_strings_name_the_text(text):
    with pytest.raises(ValueError) as info:
        Memory(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("value", [True, 1.5, None, [1]])
def test_memory_refuses_other_types(value):
    with pytest.raises(TypeError):
        Memory(value)


def test_memory_refuses_negative_int():
    with pytest.raises(ValueError, match="-1"):
        Memory(-1)


# -- Memory: arithmetic and comparisons ------------------------------------------------


def test_memory_comparisons():
    assert Memory("4GiB") == Memory("4096MiB")
    assert Memory("4GB") < Memory("4GiB")
    assert Memory("4GiB") > Memory("4GB")
    assert Memory("1G") <= Memory("1GiB") <= Memory("1G")
    assert Memory("1MiB") != Memory("1MB")
    assert Memory("1KiB") != 1024  # a Memory never equals a bare number
    assert len({Memory("1GiB"), Memory("1024MiB"), Memory("1G")}) == 1
    with pytest.raises(TypeError):
        _ = Memory("1G") < 5


def test_memory_add_and_multiply():
    assert Memory("1GiB") + Memory("512MiB") == Memory("1536MiB")
    assert Memory("1GiB") * 3 == Memory("3GiB")
    assert 3 * Memory("1GiB") == Memory("3GiB")
    with pytest.raises(TypeError):
        _ = Memory("1GiB") * 1.5
    with pytest.raises(TypeError):
        _ = Memory("1GiB") * True
    with pytest.raises(TypeError):
        _ = Memory("1GiB") + 5


def test_memory_per_rounds_up():
    assert Memory("3GiB").per(2) == Memory("1536MiB")
    assert Memory(5).per(2) == Memory(3)
    assert Memory(4).per(4) == Memory(1)
    with pytest.raises(ValueError):
        Memory("1GiB").per(0)


def test_memory_units_properties_round_up():
    assert Memory(1).kib == 1
    assert Memory(KIB).kib == 1
    assert Memory(KIB + 1).kib == 2
    assert Memory(MIB + 1).mib == 2
    assert Memory("1.5GiB").gib == 1.5


@pytest.mark.parametrize(
    ("memory", "slurm", "pbs", "sge"),
    [
        (Memory("1GiB"), "1024M", "1024mb", "1024M"),
        (Memory("512MiB"), "512M", "512mb", "512M"),
        (Memory(MIB + 1), "2M", "2mb", "2M"),  # a limit never shrinks
        (Memory(1), "1M", "1mb", "1M"),
        (Memory("4GB"), "3815M", "3815mb", "3815M"),  # 3814.7 MiB rounded up
    ],
)
def test_memory_scheduler_formats_round_up(memory, slurm, pbs, sge):
    assert memory.to_slurm() == slurm
    assert memory.to_pbs() == pbs
    assert memory.to_sge() == sge


def test_memory_str_and_repr():
    assert str(Memory("2GiB")) == "2GiB"
    assert str(Memory("1536MiB")) == "1536MiB"
    assert str(Memory(100)) == "100B"
    assert repr(Memory("2GiB")) == "Memory('2GiB')"


def test_memory_is_immutable():
    memory = Memory("1GiB")
    with pytest.raises(AttributeError):
        memory._bytes = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        memory.bytes = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        memory.other = 5  # type: ignore[attr-defined]
    assert memory.bytes == GIB


# -- Duration: parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("2h", 7200),
        ("1:30:00", 5400),
        ("2-12:00:00", 2 * 86400 + 12 * 3600),
        ("2 days", 2 * 86400),
        ("1 day", 86400),
        ("1h30m", 5400),
        ("1h 30min 15s", 5415),
        ("30min", 1800),
        ("45", 45),
        ("05:00", 300),  # MM:SS
        ("2-12", 2 * 86400 + 12 * 3600),  # days-hours (Slurm)
        ("2-12:30", 2 * 86400 + 12 * 3600 + 30 * 60),  # days-hours:minutes (Slurm)
        ("1.5h", 5400),
        ("0.5 min", 30),
        ("1w", 7 * 86400),
        ("100:00:00", 100 * 3600),
        ("  2H ", 7200),
    ],
)
def test_duration_parses(text, seconds):
    assert Duration(text).seconds == seconds


def test_duration_from_numbers():
    assert Duration(90).seconds == 90.0
    assert Duration(1.5).seconds == 1.5
    assert Duration(Duration("2h")).seconds == 7200
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            Duration(bad)
    with pytest.raises(TypeError):
        Duration(True)
    with pytest.raises(TypeError):
        Duration(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["2 dayz", "1::2", "", "h", "-5", "1:2:3:4", "5 m s", "2 days ago",
             "25:61:00", "1:00:60", "1:60", "0:59:60.5", "2-12:60", "2-1:00:75"])
def test_duration_bad_strings_name_the_text(text):
    with pytest.raises(ValueError) as info:
        Duration(text)
    assert str(info.value).startswith(f"invalid duration {text!r}: ")
    assert "write e.g. '90s'" in str(info.value)


@pytest.mark.parametrize(("text", "seconds"), [
    ("100:59:59", 100 * 3600 + 59 * 60 + 59), ("90:00", 5400), ("1:59:59.5", 7199.5),
    ("2-30", 2 * 86400 + 30 * 3600), ("75", 75)])
def test_duration_first_field_is_unbounded(text, seconds):
    assert Duration(text).seconds == seconds


def test_zero_is_a_measurement_but_not_a_request():
    assert Duration("0s").seconds == 0 and Memory(0).bytes == 0
    assert Duration.positive("1s") == Duration(1) and Memory.positive("1B") == Memory(1)
    for zero in ("0s", "0", "0:00:00", 0, 0.0, Duration(0)):
        with pytest.raises(ValueError) as info:
            Duration.positive(zero)
        assert str(info.value).startswith(f"invalid duration {zero!r}: it must be more than zero")
    for nothing in ("0", "0GiB", 0, "0.1B"):
        with pytest.raises(ValueError) as info:
            Memory.positive(nothing)
        assert str(info.value).startswith(f"invalid memory quantity {nothing!r}: it must be more")


# -- Duration: formatting, arithmetic, comparisons --------------------------------------


@pytest.mark.parametrize(
    ("duration", "hms", "slurm"),
    [
        (Duration("90s"), "00:01:30", "00:01:30"),
        (Duration("1:30:00"), "01:30:00", "01:30:00"),
        (Duration("2-12:00:00"), "60:00:00", "2-12:00:00"),  # hours > 24 in HMS
        (Duration(90061), "25:01:01", "1-01:01:01"),
        (Duration("2 days"), "48:00:00", "2-00:00:00"),
        (Duration(0), "00:00:00", "00:00:00"),
        (Duration(0.2), "00:00:01", "00:00:01"),  # limits round up
        (Duration("1000h"), "1000:00:00", "41-16:00:00"),
    ],
)
def test_duration_formats(duration, hms, slurm):
    assert duration.to_hms() == hms
    assert duration.to_slurm() == slurm


def test_duration_whole_seconds_round_up():
    assert Duration(1.01).whole_seconds == 2
    assert Duration(2).whole_seconds == 2


def test_duration_str_parses_back():
    for text in ("90s", "2h", "90min", "2 days", "1:00:01", "2-12:30:05"):
        duration = Duration(text)
        assert Duration(str(duration)) == duration


def test_duration_comparisons_and_arithmetic():
    assert Duration("1:30:00") == Duration("90min") == Duration("1h30m")
    assert Duration("1h") < Duration("61min")
    assert Duration("2 days") > Duration("47h")
    assert Duration("1h") + Duration("30min") == Duration("90min")
    assert Duration("1h") * 3 == Duration("3h")
    assert 2 * Duration("1h") == Duration("2h")
    assert Duration("60s") != 60
    assert len({Duration("1h"), Duration("60min"), Duration(3600)}) == 1
    with pytest.raises(TypeError):
        _ = Duration("1h") * 1.5
    with pytest.raises(TypeError):
        _ = Duration("1h") + 5
    with pytest.raises(TypeError):
        _ = Duration("1h") < 5


def test_duration_is_immutable():
    duration = Duration("1h")
    with pytest.raises(AttributeError):
        duration._seconds = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        duration.seconds = 5  # type: ignore[misc]
    assert duration.seconds == 3600


# -- round trips ------------------------------------------------------------------------


@PROPERTY
@given(st.integers(min_value=0, max_value=2**42).map(lambda k: k * KIB))
def test_memory_str_round_trip(nbytes):
    memory = Memory(nbytes)
    assert Memory(str(memory)) == memory


@PROPERTY
@given(st.integers(min_value=0, max_value=2**50))
def test_memory_scheduler_format_never_shrinks(nbytes):
    memory = Memory(nbytes)
    parsed = Memory(memory.to_slurm())  # "NM": M is MiB in Slurm and here
    assert parsed >= memory
    assert parsed.bytes - memory.bytes < MIB


@PROPERTY
@given(st.integers(min_value=0, max_value=10**9))
def test_duration_slurm_round_trip(seconds):
    duration = Duration(seconds)
    assert Duration(duration.to_slurm()) == duration
    assert Duration(duration.to_hms()) == duration
    assert Duration(str(duration)) == duration


@PROPERTY
@given(st.floats(min_value=0, max_value=10**7, allow_nan=False))
def test_duration_formats_never_shrink(seconds):
    duration = Duration(seconds)
    assert Duration(duration.to_slurm()) >= duration
    assert Duration(duration.to_slurm()).seconds - duration.seconds <= 1


@pytest.mark.parametrize(("text", "expected"), [
    ("13378420kb", 13378420 * 1024), ("8gb", 8 * 1024**3), ("512", 512), ("0b", 0),
    ("4mw", 4 * 1024**2 * 8), ("1.5GB", round(1.5 * 1024**3)),
])
def test_memory_from_pbs(text, expected):
    assert Memory.from_pbs(text).bytes == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("5.867MB", round(5.867 * 1024**2)), ("10G", 10 * 1024**3), ("10g", 10 * 1000**3),
    ("0.000", 0), ("512.000", 512), ("46.137KB", round(46.137 * 1024)), ("2m", 2 * 1000**2),
])
def test_memory_from_sge(text, expected):
    assert Memory.from_sge(text).bytes == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("43s", 43), ("10", 10), ("0.248", 0.248), ("00:01:00", 60), ("1:02:03:04", 93784),
])
def test_duration_from_sge(text, expected):
    assert Duration.from_sge(text).seconds == pytest.approx(expected)


@pytest.mark.parametrize("text", ["n/a", "", "INFINITY", "1:2:3:4:5", "-1", "4 h"])
def test_duration_from_sge_refuses(text):
    with pytest.raises(ValueError, match="Grid Engine time"):
        Duration.from_sge(text)


@pytest.mark.parametrize(("parse", "text"), [(Memory.from_pbs, "8xb"), (Memory.from_sge, "N/A"),
                                             (Memory.from_pbs, ""), (Memory.from_sge, "4 GiB")])
def test_scheduler_sizes_refuse(parse, text):
    with pytest.raises(ValueError, match="size"):
        parse(text)
