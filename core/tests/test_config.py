"""YAML configuration: loading, errors with file:line:key, search order, built-in default."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

import lrms
from lrms import Arch, ConfigError, Duration, Memory, SshAuth

DESIGN_EXAMPLE = """\
resources:
  localhost:                      # the resource's name
    backend: shellcmd             # an entry-point name in lrms.backends
    max_cores: 2
    max_cores_per_job: 2
    max_memory_per_core: 2GiB
    max_walltime: 8h
    architecture: [x86_64]
  cluster:
    backend: shellcmd
    transport: ssh                # local (default) or ssh
    frontend: login.example.org
    auth: site
    max_cores: 4096
    max_cores_per_job: 128
    max_memory_per_core: 4GiB
    max_walltime: 2 days
    architecture: [x86_64]
    grace: 10                     # backend-specific option, validated by the backend
auths:
  site:
    type: ssh
    username: alice
    keyfile: ~/.ssh/id_ed25519
    known_hosts: ~/.ssh/known_hosts
"""

# One local resource; line numbers below refer to this text.
BASE = """\
resources:
  localhost:
    backend: shellcmd
    max_cores: 2
    max_cores_per_job: 2
    max_memory_per_core: 2GiB
    max_walltime: 8h
    architecture: [x86_64]
"""


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_error(tmp_path, text) -> tuple[ConfigError, str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        lrms.load_config(path)
    return info.value, str(path)


def resource_error(tmp_path, text, name="localhost") -> tuple[ConfigError, str]:
    path = write(tmp_path, text)
    config = lrms.load_config(path)
    with pytest.raises(ConfigError) as info:
        config.resource(name)
    return info.value, str(path)


def assert_located(error: ConfigError, path: str, line: int, key: str) -> None:
    text = str(error)
    assert f"{path}:{line}:" in text, text
    assert key in text, text
    assert (error.path, error.line) == (path, line)
    assert error.key is not None and error.key.endswith(key)


# -- a good configuration --------------------------------------------------------------


def test_design_example_loads(tmp_path):
    config = lrms.load_config(write(tmp_path, DESIGN_EXAMPLE))
    assert config.resource_names == ["localhost", "cluster"]
    assert config.backend_of("cluster") == "shellcmd"
    res = config.resource("localhost")
    try:
        assert isinstance(res, lrms.LRMS)
        assert res.name == "localhost"
        assert res.backend_name == "shellcmd"
        assert res.max_cores == 2
        assert res.max_cores_per_job == 2
        assert res.max_memory_per_core == Memory("2GiB")
        assert res.max_walltime == Duration("8h")
        assert res.architecture == {Arch.X86_64}
        assert res.auth is None
        assert config.resource("localhost") is res  # built once
    finally:
        config.close()


def test_ssh_resource_is_built_without_contacting_the_host(tmp_path):
    # The transport is "connected on first use": building the resource (and
    # checking its options) must not open an SSH connection or need the key.
    text = DESIGN_EXAMPLE.replace("frontend: login.example.org",
                                  "frontend: 127.0.0.1\n    port: 1")
    config = lrms.load_config(write(tmp_path, text))
    try:
        res = config.resource("cluster")
        assert res.frontend == "127.0.0.1"
        assert res.max_cores_per_job == 128
        assert res.max_memory_per_core == Memory("4GiB")
        assert res.max_walltime == Duration("2 days")
        assert res.options["grace"] == 10
        assert isinstance(res.auth, SshAuth)
        assert res.auth.username == "alice"
        assert res.auth.keyfile == "~/.ssh/id_ed25519"
    finally:
        config.close()


def test_backend_options_get_defaults_and_values(tmp_path):
    config = lrms.load_config(write(tmp_path, BASE + "    grace: 7\n    spool: /tmp/x\n"))
    res = config.resource("localhost")
    try:
        assert res.options["grace"] == 7
        assert res.options["spool"] == "/tmp/x"
        assert res.options["spool"] == "/tmp/x" and "python" not in res.options  # a core key
        assert res.python is None  # not set: each user of it chooses its default
    finally:
        config.close()


def test_sexagesimal_walltime_is_90_minutes(tmp_path):
    # YAML 1.1 reads 1:30:00 as the base-60 integer 5400; it must stay 1h30m.
    config = lrms.load_config(write(tmp_path, BASE.replace("8h", "1:30:00")))
    assert config.resource("localhost").max_walltime == Duration("90min")
    config.close()


def test_auth_of_type_none(tmp_path):
    text = BASE + "    auth: nothing\nauths:\n  nothing:\n    type: none\n"
    config = lrms.load_config(write(tmp_path, text))
    assert config.resource("localhost").auth is None
    config.close()


# -- errors at load time ---------------------------------------------------------------


def test_malformed_yaml_bad_indentation(tmp_path):
    error, path = load_error(tmp_path, BASE.replace("    max_cores: 2", "   max_cores: 2"))
    assert f"{path}:4:" in str(error)
    assert "invalid YAML" in str(error)


def test_malformed_yaml_unclosed_bracket(tmp_path):
    text = BASE + "    spool: [a, b\n    grace: 3\n"
    error, path = load_error(tmp_path, text)
    assert str(error).startswith(f"{path}:")
    assert error.line in (9, 10)
    assert "invalid YAML" in str(error)


def test_malformed_yaml_tab(tmp_path):
    error, path = load_error(tmp_path, BASE.replace("    max_cores: 2", "\tmax_cores: 2"))
    assert f"{path}:4:" in str(error)


def test_unknown_top_level_section(tmp_path):
    error, path = load_error(tmp_path, BASE + "queues:\n  a: 1\n")
    assert_located(error, path, 9, "queues")
    assert "resources" in str(error)  # says what is expected


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "shown"),
    [
        ("max_cores: 2", "max_cores: many", 4, "max_cores", "'many'"),
        ("max_cores: 2", "max_cores: 0", 4, "max_cores", "0"),
        ("max_cores: 2", "max_cores: 2.5", 4, "max_cores", "2.5"),
        ("max_cores: 2", "max_cores: true", 4, "max_cores", "True"),
        ("architecture: [x86_64]", "architecture: 12", 8, "architecture", "12"),
        ("architecture: [x86_64]", "architecture: x86_64", 8, "architecture", "'x86_64'"),
        ("architecture: [x86_64]", "architecture: [sparc]", 8, "architecture", "sparc"),
        ("max_memory_per_core: 2GiB", "max_memory_per_core: 4 GBs", 6,
         "max_memory_per_core", "'4 GBs'"),
        ("max_memory_per_core: 2GiB", "max_memory_per_core: 4096", 6,
         "max_memory_per_core", "4096"),
        ("max_walltime: 8h", "max_walltime: 2 dayz", 7, "max_walltime", "'2 dayz'"),
        ("max_walltime: 8h", "max_walltime: yes", 7, "max_walltime", "True"),
        ("backend: shellcmd", "backend: [shellcmd]", 3, "backend", "['shellcmd']"),
    ],
)
def test_wrong_types_and_values(tmp_path, old, new, line, key, shown):
    error, path = load_error(tmp_path, BASE.replace(old, new))
    assert_located(error, path, line, key)
    assert shown in str(error)


def test_unknown_backend_lists_installed_ones_and_pip_hint(tmp_path):
    error, path = load_error(tmp_path, BASE.replace("backend: shellcmd", "backend: slurmx"))
    assert_located(error, path, 3, "backend")
    text = str(error)
    assert "'slurmx'" in text
    assert "pip install lrms-slurmx" in text
    installed = [info.name for info in lrms.list_backends()]
    assert "shellcmd" in installed
    for name in installed:
        assert name in text


@pytest.mark.parametrize(
    "key", ["backend", "max_cores", "max_cores_per_job", "max_memory_per_core",
            "max_walltime", "architecture"])
def test_missing_required_key(tmp_path, key):
    lines = [line for line in BASE.splitlines(keepends=True) if f" {key}:" not in line]
    error, path = load_error(tmp_path, "".join(lines))
    text = str(error)
    assert text.startswith(f"{path}:")
    assert error.line in (2, 3)  # the resource's section
    assert f"resources.localhost.{key}" in text
    assert "missing" in text


def test_max_cores_per_job_above_max_cores(tmp_path):
    error, path = load_error(tmp_path, BASE.replace("max_cores_per_job: 2", "max_cores_per_job: 3"))
    assert_located(error, path, 5, "max_cores_per_job")
    assert "max_cores" in str(error) and "3" in str(error)


def test_ssh_without_frontend(tmp_path):
    error, path = load_error(tmp_path, BASE + "    transport: ssh\n")
    assert_located(error, path, 9, "transport")
    assert "frontend" in str(error)


def test_unknown_transport(tmp_path):
    error, path = load_error(tmp_path, BASE + "    transport: telnet\n")
    assert_located(error, path, 9, "transport")
    assert "telnet" in str(error)


def test_auth_not_defined(tmp_path):
    text = BASE + "    auth: site\nauths:\n  other:\n    type: ssh\n"
    error, path = load_error(tmp_path, text)
    assert_located(error, path, 9, "auth")
    assert "'site'" in str(error)
    assert "other" in str(error)  # names the defined ones


def test_auth_unknown_key_and_bad_type(tmp_path):
    error, path = load_error(tmp_path, BASE + "auths:\n  site:\n    type: ssh\n    user: bob\n")
    assert_located(error, path, 12, "auths.site.user")
    assert "username" in str(error)
    error, path = load_error(tmp_path, BASE + "auths:\n  site:\n    type: kerberos\n")
    assert_located(error, path, 11, "auths.site.type")
    assert "kerberos" in str(error)


def test_duplicate_key(tmp_path):
    error, path = load_error(tmp_path, BASE + "    max_cores: 3\n")
    assert_located(error, path, 9, "max_cores")
    assert "duplicate" in str(error)


def test_duplicate_resource(tmp_path):
    text = BASE + BASE.replace("resources:\n", "")
    error, path = load_error(tmp_path, text)
    assert_located(error, path, 9, "localhost")
    assert "duplicate" in str(error)


@pytest.mark.parametrize(
    "text", ["", "- a\n- b\n", "auths: {}\n", "resources: {}\n", "resources:\n  x: 3\n"])
def test_structure_errors(tmp_path, text):
    error, path = load_error(tmp_path, text)
    assert str(error).startswith(path)
    assert "resource" in str(error)


# -- errors when the resource (its backend) is built -----------------------------------


def test_unknown_backend_option(tmp_path):
    error, path = resource_error(tmp_path, BASE + "    partition: normal\n")
    assert_located(error, path, 9, "resources.localhost.partition")
    assert "unknown option" in str(error)
    for option in ("grace", "spool"):
        assert option in str(error)


def test_misspelt_core_option(tmp_path):
    text = BASE + "    max_walltim: 2h\n"
    error, path = resource_error(tmp_path, text)
    assert_located(error, path, 9, "resources.localhost.max_walltim")
    assert "unknown option" in str(error)


def test_unknown_option_message_lists_core_options_too(tmp_path):
    # "valid options here" must not omit the core keys that are valid there.
    error, _ = resource_error(tmp_path, BASE + "    max_walltim: 2h\n")
    assert "max_walltime" in str(error)


def test_bad_backend_option_value(tmp_path):
    error, path = resource_error(tmp_path, BASE + "    grace: soon\n")
    assert_located(error, path, 9, "resources.localhost.grace")
    assert "'soon'" in str(error)


def test_unknown_resource_names_configured_ones(tmp_path):
    config = lrms.load_config(write(tmp_path, DESIGN_EXAMPLE))
    with pytest.raises(ConfigError) as info:
        config.resource("nope")
    text = str(info.value)
    assert "'nope'" in text
    assert "localhost" in text and "cluster" in text
    assert str(tmp_path / "config.yaml") in text
    with pytest.raises(ConfigError, match="nope"):
        config.backend_of("nope")


def test_check_all_reports_every_problem(tmp_path):
    text = (BASE + "    partition: x\n"
            + named("second").replace("resources:\n", "") + "    bogus: 1\n"
            + named("third").replace("resources:\n", ""))
    config = lrms.load_config(write(tmp_path, text))
    problems = config.check_all()
    try:
        assert [problem.key for problem in problems] == [
            "resources.localhost.partition", "resources.second.bogus"]
        assert [problem.line for problem in problems] == [9, 17]
        assert isinstance(config.resource("third"), lrms.LRMS)
    finally:
        config.close()


# -- search order ----------------------------------------------------------------------------


def named(resource: str) -> str:
    return BASE.replace("localhost:", f"{resource}:")


@pytest.fixture
def three_configs(tmp_path, monkeypatch):
    explicit = write(tmp_path, named("fromarg"), "explicit.yaml")
    env = write(tmp_path, named("fromenv"), "env.yaml")
    xdg = tmp_path / "xdg"
    (xdg / "lrms").mkdir(parents=True)
    (xdg / "lrms" / "config.yaml").write_text(named("fromxdg"))
    monkeypatch.setenv("LRMS_CONFIG", str(env))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    return explicit, env, xdg / "lrms" / "config.yaml"


def test_explicit_path_comes_first(three_configs):
    explicit, _, _ = three_configs
    config = lrms.load_config(explicit)
    assert config.resource_names == ["fromarg"]
    assert config.path == str(explicit)
    assert lrms.load_config(str(explicit)).resource_names == ["fromarg"]


def test_lrms_config_comes_second(three_configs):
    _, env, _ = three_configs
    config = lrms.load_config()
    assert config.resource_names == ["fromenv"]
    assert config.path == str(env)


def test_xdg_config_home_comes_third(three_configs, monkeypatch):
    _, _, xdg = three_configs
    monkeypatch.delenv("LRMS_CONFIG")
    config = lrms.load_config()
    assert config.resource_names == ["fromxdg"]
    assert config.path == str(xdg)
    monkeypatch.setenv("LRMS_CONFIG", "")  # empty counts as unset
    assert lrms.load_config().resource_names == ["fromxdg"]


def test_dot_config_without_xdg(isolated_home, monkeypatch):
    monkeypatch.delenv("XDG_CONFIG_HOME")
    path = isolated_home / ".config" / "lrms" / "config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(named("fromhome"))
    config = lrms.load_config()
    assert config.resource_names == ["fromhome"]
    assert config.path == str(path)


def test_built_in_default_comes_last(three_configs, monkeypatch):
    _, _, xdg = three_configs
    monkeypatch.delenv("LRMS_CONFIG")
    xdg.unlink()
    config = lrms.load_config()
    assert config.path is None
    assert config.resource_names == ["localhost"]
    assert config.backend_of("localhost") == "shellcmd"


def test_missing_explicit_path_is_an_error(tmp_path, three_configs):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        lrms.load_config(missing)
    assert str(missing) in str(info.value)
    assert "not found" in str(info.value)


def test_missing_lrms_config_file_is_an_error(tmp_path, monkeypatch):
    missing = tmp_path / "gone.yaml"
    monkeypatch.setenv("LRMS_CONFIG", str(missing))
    with pytest.raises(ConfigError, match=r"gone\.yaml"):
        lrms.load_config()


def _meminfo_bytes() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def test_built_in_default_is_sized_from_the_machine():
    config = lrms.load_config()
    assert config.path is None
    assert config.resource_names == ["localhost"]
    res = config.resource("localhost")
    try:
        cores = os.cpu_count() or 1
        assert res.backend_name == "shellcmd"
        assert res.max_cores == cores
        assert res.max_cores_per_job == cores
        per_core = Memory(f"{_meminfo_bytes() // cores // 1024**2}MiB")
        assert res.max_memory_per_core == per_core
        assert res.architecture == {Arch.local()}
        assert res.max_walltime >= Duration("1 day")
    finally:
        config.close()


# -- merge keys, limits, lines at the end of the file -----------------------------------------


def docs_example(heading: str) -> str:
    """The first YAML block after ``heading`` in docs/config.md."""
    text = (Path(__file__).parents[2] / "docs" / "config.md").read_text()
    after = text[text.index(heading):]
    return after.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_merge_key_example_in_the_docs_loads(tmp_path):
    config = lrms.load_config(write(tmp_path, docs_example("## Sharing settings")))
    debug = config.resource("cluster-debug")
    try:
        assert (debug.max_cores, debug.max_cores_per_job) == (64, 2)
        assert debug.max_walltime == Duration("30min")
        assert debug.max_memory_per_core == Memory("4GiB")
        assert config.resource("cluster").max_cores_per_job == 16
    finally:
        config.close()


MERGES = BASE.replace("  localhost:\n", "  localhost: &base\n") + """\
  small: &small
    <<: *base
    max_cores: 1
    max_cores_per_job: 1
  tiny:
    max_walltime: 1min
    <<: [*small, *base]
"""


def test_merge_keys_written_keys_win_then_the_earlier_merge():
    from lrms.yamlfile import parse

    data = parse(MERGES, "c.yaml")["resources"]
    assert data["small"]["max_cores"] == 1 and data["small"]["backend"] == "shellcmd"
    assert data["tiny"]["max_walltime"] == "1min"  # written next to <<
    assert data["tiny"]["max_cores"] == 1  # *small comes before *base
    assert data["tiny"].key_lines["max_cores"] == 11  # where it is written
    assert data["tiny"].key_lines["backend"] == 3
    assert data["tiny"].key_lines["max_walltime"] == 14


def test_merged_key_error_names_the_resource_and_the_line(tmp_path):
    error, path = load_error(tmp_path, MERGES.replace("max_cores: 1\n", "max_cores: none\n"))
    assert_located(error, path, 11, "resources.small.max_cores")


@pytest.mark.parametrize(("text", "line", "problem"), [
    (BASE + "    <<: 2GiB\n", 9, "the merge key << takes a mapping or a list of mappings"),
    (BASE + "    <<: [*nothing]\n", 9, "undefined alias"),
    (BASE + "  other: &o\n    <<: *o\n", 10, "recursive alias"),
    (BASE + "    <<: {max_cores: 3}\n    <<: {max_cores: 4}\n", 10, "duplicate key"),
])
def test_bad_merge_keys(tmp_path, text, line, problem):
    error, path = load_error(tmp_path, text)
    assert str(error).startswith(f"{path}:{line}: ") and problem in str(error), str(error)


@pytest.mark.parametrize(("tail", "line"), [
    ('    spool: "/scratch\n', 9),  # an unclosed quote: where it opens, not past the end
    ("    spool: [a,\n\n\n", 9),
    ("    spool: {a: 1", 9),
])
def test_problem_found_at_the_end_is_shown_where_it_starts(tmp_path, tail, line):
    error, path = load_error(tmp_path, BASE + tail)
    assert str(error).startswith(f"{path}:{line}: invalid YAML"), str(error)


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("max_walltime: 8h", "max_walltime: 0s", "invalid duration '0s': it must be more than zero"),
    ("max_walltime: 8h", "max_walltime: '0:00:00'", "invalid duration '0:00:00': it must be"),
    ("max_walltime: 8h", "max_walltime: 25:61:00", "invalid duration '25:61:00': minutes"),
    ("max_memory_per_core: 2GiB", "max_memory_per_core: 0MiB",
     "invalid memory quantity '0MiB': it must be more than zero"),
])
def test_zero_or_impossible_limits_are_refused(tmp_path, old, new, problem):
    error, path = load_error(tmp_path, BASE.replace(old, new))
    key = new.split(":")[0]
    assert_located(error, path, 7 if key == "max_walltime" else 6, key)
    assert problem in str(error)


def test_limits_of_what_is_read(tmp_path):
    from lrms.yamlfile import MAX_BYTES

    big = write(tmp_path, "#" * MAX_BYTES + "\n", "big.yaml")
    with pytest.raises(ConfigError, match=r"big.yaml: too large: 1.0MiB \(at most 1MiB\)"):
        lrms.load_config(big)
    with pytest.raises(ConfigError, match="not a regular file \\(a directory\\)"):
        lrms.load_config(tmp_path)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(BASE.encode() + b"    spool: /tmp/caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        lrms.load_config(latin1)
    assert str(info.value) == f"{latin1}:9: not UTF-8 text (byte 0xe9)"


@pytest.fixture(params=["libyaml", "python"])
def yaml_parser(request, monkeypatch):
    """Each test below runs with libyaml's parser (when PyYAML has it) and PyYAML's own."""
    from lrms import yamlfile

    if request.param == "python":
        monkeypatch.setattr(yamlfile, "_Loader", yamlfile._PythonLoader)
    return yamlfile.parse


@pytest.mark.parametrize(("text", "line", "problem"), [
    ("a: " + "[" * 60 + "]" * 60 + "\n", 1, "nested more than 50 levels deep"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcd", "bcde")),
     5, "aliases repeat more than 100000 values"),
    ("x: 1\na: &a {b: *a}\n", 2, "recursive alias"),
    ("a: 1\nb: \"open\n\n", 2, "invalid YAML"),
    ("a: 1\nb: 2\0\n", 2, "special characters are not allowed (#x0000)"),
    ("a: !!python/tuple [1]\n", 1, "unsupported tag"),
])
def test_bounds_with_either_parser(yaml_parser, text, line, problem):
    with pytest.raises(ConfigError) as info:
        yaml_parser(text, "f.yaml")
    assert str(info.value).startswith(f"f.yaml:{line}: ") and problem in str(info.value)


def test_merge_keys_with_either_parser(yaml_parser):
    data = yaml_parser(MERGES, "c.yaml")["resources"]
    assert data["tiny"]["max_cores"] == 1 and data["tiny"].key_lines["max_cores"] == 11


def test_the_agent_section_example_in_the_docs_loads(tmp_path):
    config = lrms.load_config(write(tmp_path, docs_example("## Agent keys")))
    try:
        assert config.agent == {"enabled": True, "linger": Duration("1min")}
        assert config.resource("localhost").poll_interval == 0.0  # local shellcmd: every round
    finally:
        config.close()


def test_agent_and_poll_interval_mistakes_name_file_line_and_key(tmp_path):
    for text, where, problem in (
            ("agent: yes\n" + BASE, "agent", "must be a mapping"),
            ("agent:\n  enabled: maybe\n" + BASE, "agent.enabled", "expected true or false"),
            ("agent:\n  linger: soon\n" + BASE, "agent.linger", "soon"),
            (BASE + "    poll_interval: often\n", "resources.localhost.poll_interval", "often")):
        with pytest.raises(lrms.ConfigError) as caught:
            lrms.load_config(write(tmp_path, text))
        assert f": {where}: " in str(caught.value) and problem in str(caught.value)
