"""The probe's sources, read from fake cgroup trees, and what freezing buys."""

import itertools
import json
import subprocess
import sys
import textwrap

from {{ cookiecutter.project_slug }}.memory import probe

MB = 1 << 20


def cgroup_v2(directory, current: int, limit: str, inactive_file: int):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "memory.current").write_text(f"{current}\n")
    (directory / "memory.max").write_text(f"{limit}\n")
    (directory / "memory.stat").write_text(
        f"anon 1\ninactive_file {inactive_file}\nactive_file 2\n"
    )
    return directory


def cgroup_v1(directory, usage: int, limit: int, inactive_file: int):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (directory / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (directory / "memory.stat").write_text(f"cache 5\ntotal_inactive_file {inactive_file}\n")
    return directory


def no_proc_cgroup(tmp_path):
    return tmp_path / "no-such-proc-cgroup"


def test_cgroup_v2_working_set_over_its_limit(tmp_path):
    cgroup_v2(tmp_path, current=600 * MB, limit=str(1000 * MB), inactive_file=100 * MB)
    reading = probe.system_reader(tmp_path, no_proc_cgroup(tmp_path))()
    # Reclaimable page cache is not pressure: (600 - 100) / 1000.
    assert (reading.source, reading.used, reading.limit) == ("cgroup v2", 500 * MB, 1000 * MB)
    assert reading.percent == 50.0


def test_cgroup_v2_without_a_limit_falls_back_to_the_host(tmp_path):
    cgroup_v2(tmp_path, current=600 * MB, limit="max", inactive_file=0)
    unlimited = probe.read_cgroup_v2(tmp_path)
    assert unlimited is not None and unlimited.limit is None
    assert probe.system_reader(tmp_path, no_proc_cgroup(tmp_path))().source == "host"


def test_cgroup_v1_with_and_without_a_limit(tmp_path):
    limited = cgroup_v1(tmp_path / "a" / "memory", 300 * MB, 400 * MB, 100 * MB).parent
    reading = probe.system_reader(limited, no_proc_cgroup(tmp_path))()
    assert (reading.source, reading.used, reading.percent) == ("cgroup v1", 200 * MB, 50.0)

    # cgroup v1 says "no limit" with a huge number.
    unlimited = cgroup_v1(tmp_path / "b" / "memory", 300 * MB, 9223372036854771712, 0).parent
    assert probe.system_reader(unlimited, no_proc_cgroup(tmp_path))().source == "host"


def test_no_cgroup_at_all_reads_the_host(tmp_path):
    reading = probe.system_reader(tmp_path / "empty", no_proc_cgroup(tmp_path))()
    assert reading.source == "host"
    assert reading.limit is not None and 0 < reading.used < reading.limit


def test_the_process_own_cgroup_is_found_below_the_root(tmp_path):
    cgroup_v2(tmp_path / "kubepods" / "pod1", 900 * MB, str(1000 * MB), 0)
    cgroup_v1(tmp_path / "memory" / "docker" / "abc", 10 * MB, 100 * MB, 0)
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/docker/abc\n0::/kubepods/pod1\n")
    v2, v1 = probe.cgroup_directories(tmp_path, proc)
    assert v2 == tmp_path / "kubepods" / "pod1"
    assert v1 == tmp_path / "memory" / "docker" / "abc"
    assert probe.system_reader(tmp_path, proc)().percent == 90.0


def test_history_is_a_bounded_ring_oldest_first():
    counter = itertools.count(1)
    fake = probe.MemoryProbe(
        interval_ms=1000,
        read_system=lambda: probe.Reading(1, 2, "fake"),
        read_process_rss=lambda: next(counter),  # the first sample is taken at creation
    )
    for _ in range(fake.history.maxlen + 9):
        fake.sample()
    assert len(fake.history) == fake.history.maxlen == probe.HISTORY_SECONDS
    rss = [rss for _at, rss, _pressure in fake.history]
    assert rss == list(range(11, fake.history.maxlen + 11))  # the 10 oldest overwritten
    assert all(pressure == 50.0 for _at, _rss, pressure in fake.history)
    fake.restart()
    assert [rss for _at, rss, _pressure in fake.history] == [fake.history.maxlen + 11]


def test_a_frozen_heap_makes_full_collections_much_shorter():
    # In a fresh interpreter: a full collection of the service's import graph
    # before settle_heap(), then after it. Compared as a ratio in one run.
    script = textwrap.dedent(
        """
        import gc, json, time
        from {{ cookiecutter.project_slug }}.app import create_preloaded_app
        from {{ cookiecutter.project_slug }}.memory.heap import settle_heap

        create_preloaded_app()

        def full_collection_ms():
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                gc.collect()
                best = min(best, time.perf_counter() - started)
            return best * 1000

        before = full_collection_ms()
        settle_heap()
        print(json.dumps({"before": before, "after": full_collection_ms()}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    times = json.loads(result.stdout)
    assert times["after"] * 5 < times["before"], times


def test_a_spike_is_trimmed_and_live_growth_is_left_alone(monkeypatch):
    """RSS 8 MiB over its lowest is trimmed, at most once a second; when a
    trim gives little back, the growth is live and the floor moves up to it."""
    from {{ cookiecutter.project_slug }}.memory import heap

    trims: list[int] = []
    monkeypatch.setattr(heap, "release_free_memory", lambda: trims.append(1))
    after = iter([101 * MB, 119 * MB])
    trimmer = heap.SpikeTrimmer(8 * MB, lambda: next(after))
    trimmer.observe(100 * MB)
    trimmer.observe(107 * MB)  # under the bound
    assert trims == []
    trimmer.observe(140 * MB)  # a spike: trimmed, 39 MiB back
    assert trims == [1] and trimmer.floor == 100 * MB and trimmer.released == 39 * MB
    trimmer.observe(140 * MB)  # within the second: not again
    assert trims == [1]
    trimmer.last -= 1  # a second later
    trimmer.observe(120 * MB)  # live growth: 1 MiB back
    assert trims == [1, 1] and trimmer.floor == 119 * MB
    trimmer.last -= 1
    trimmer.observe(121 * MB)  # over the new floor by little: left alone
    assert trims == [1, 1]


def test_a_trim_hands_freed_memory_back():
    """In a process of its own: memory freed in small pieces stays with glibc
    until a trim returns it (glibc only; elsewhere release is a no-op)."""
    program = textwrap.dedent(
        """
        import psutil
        from {{ cookiecutter.project_slug }}.memory.heap import _malloc_trim, release_free_memory
        if _malloc_trim is None:
            print(0, 0)
            raise SystemExit
        rss = lambda: psutil.Process().memory_info().rss
        keep, drop = [], []
        for index in range(60_000):  # 1 KiB pieces (glibc's), every other kept
            (keep if index % 60 == 0 else drop).append(bytes(1024))
        before = rss()
        drop.clear()
        freed = rss()
        release_free_memory()
        print(before - freed, freed - rss())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    kept_after_free, returned_by_trim = (int(value) for value in done.stdout.split())
    if (kept_after_free, returned_by_trim) == (0, 0):
        return  # not glibc
    assert returned_by_trim > 20 * MB, (kept_after_free, returned_by_trim)
