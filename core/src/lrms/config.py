"""YAML configuration: finding it, checking it, and building resources from it.

Search order: the path given, ``$LRMS_CONFIG``, ``$XDG_CONFIG_HOME/lrms/config.yaml``
(``~/.config/lrms/config.yaml``); with none, a built-in ``localhost`` shellcmd
resource sized from this machine.  Every error names the file, line and key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .arch import Arch
from .auth import Auth, SshAuth
from .backends import list_backends, load_backend_class, not_found_message
from .errors import BackendError, BackendNotFound, ConfigError
from .options import Option, check_options
from .quantity import Duration, Memory
from .yamlfile import Located, load

if TYPE_CHECKING:
    from .resource import LRMS

__all__ = ["Config", "default_config_path", "load_config"]

CORE_OPTIONS = (
    Option("backend", "string", required=True,
           help="Entry-point name of the backend (lrms.backends group), e.g. shellcmd, slurm."),
    Option("transport", "string", "local", "How to reach the resource.", ("local", "ssh")),
    Option("frontend", "string", None, "Host to log in to when transport is ssh."),
    Option("port", "positive integer", None, "SSH port (default: ~/.ssh/config, else 22)."),
    Option("auth", "string", None, "Name of an entry in the auths section."),
    Option("max_cores", "positive integer", required=True, help="Cores in use at once, at most."),
    Option("max_cores_per_job", "positive integer", required=True,
           help="Cores one job may request."),
    Option("max_memory_per_core", "memory", required=True,
           help="Memory per requested core a job may use (e.g. 2GiB)."),
    Option("max_walltime", "duration", required=True, help="Longest walltime a job may request."),
    Option("architecture", "list of strings", required=True,
           help="Architectures offered, e.g. [x86_64]."),
    Option("max_gpus_per_job", "integer", 0,
           "GPUs one job may request in all (0: the resource has no GPUs)."),
    Option("python", "string", None,
           "Python 3 on the resource: runs lrms.Executor calls (default python3; on the "
           "built-in localhost, the caller's own) and, over SSH, the shellcmd job wrapper."),
    Option("poll_interval", "duration", None,
           "Time between status queries of this resource, shared by every process using "
           "one job store (e.g. 30s; 0: every round). Default: the backend's (15 s for "
           "batch schedulers; shellcmd: every round locally, 1 s over SSH)."),
)
SSH_AUTH_OPTIONS = (
    Option("type", "string", required=True, help="Kind of credentials.", choices=("ssh", "none")),
    Option("username", "string", None, "Login name (default: ~/.ssh/config, else local user)."),
    Option("keyfile", "string", None, "Private key (default: ~/.ssh/config, agent, ~/.ssh/id_*)."),
    Option("known_hosts", "string", None, "known_hosts file (default ~/.ssh/known_hosts)."),
    Option("connect_timeout", "positive integer", 10, "Seconds to wait for a connection."),
    Option("keepalive", "positive integer", 30, "Seconds between keep-alive messages."),
    Option("host_key_policy", "string", "reject",
           "What to do with an unknown host key: reject, or accept-new (logged, and saved).",
           ("reject", "accept-new")),
    Option("passphrase_env", "string", None,
           "Environment variable that holds the key's passphrase."),
)
AGENT_OPTIONS = (
    Option("enabled", "boolean", True,
           "Start the store's background agent on 'lrms submit' (false: jobs progress only "
           "while an lrms command runs, as with --no-agent)."),
    Option("linger", "duration", "10s",
           "How long an idle agent waits for more work before it exits."),
)
TOP_LEVEL = ("resources", "auths", "agent")


def default_config_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "lrms", "config.yaml")


class Config:
    """A checked configuration: resources by name, built on demand."""

    def __init__(self, data: Mapping[str, Any], path: str | None) -> None:
        self.path = path
        self._where = path or "<built-in default>"
        self._resources: dict[str, Any] = {}
        self._built: dict[str, LRMS] = {}
        self._auths: dict[str, Auth | None] = {}
        #: the ``agent`` section, checked: ``enabled`` (bool), ``linger`` (Duration)
        self.agent: dict[str, Any] = {}
        self._check(data)

    # -- checking -------------------------------------------------------------

    def _error(self, mapping: Any, key: str | None, problem: str, prefix: str = "") -> ConfigError:
        line = None
        if isinstance(mapping, Located):
            line = mapping.key_lines.get(key, mapping.line) if key else mapping.line
        label = f"{prefix}.{key}" if prefix and key else (key or prefix or None)
        return ConfigError(problem, path=self._where, line=line, key=label)

    def _check(self, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError("the file must be a mapping with a 'resources' section",
                              path=self._where, line=1)
        for key in data:
            if key not in TOP_LEVEL:
                raise self._error(data, key,
                                  "unknown section (expected: resources, auths, agent)")
        agent = data.get("agent") or {}
        if not isinstance(agent, Mapping):
            raise self._error(data, "agent", "must be a mapping such as {enabled: false}")
        self.agent = check_options(AGENT_OPTIONS, agent,
                                   lambda k, p: self._error(agent, k, p, "agent"))
        auths = data.get("auths") or {}
        if not isinstance(auths, Mapping):
            raise self._error(data, "auths", "must be a mapping of auth names to settings")
        for name, section in auths.items():
            self._auths[name] = self._check_auth(name, section, auths)
        resources = data.get("resources")
        if not isinstance(resources, Mapping) or not resources:
            raise self._error(data, "resources" if "resources" in data else None,
                              "needs a 'resources' mapping with at least one resource")
        installed = {info.name for info in list_backends()}
        for name, section in resources.items():
            self._resources[name] = self._check_resource(name, section, resources, installed)

    def _check_auth(self, name: str, section: Any, parent: Any) -> Auth | None:
        prefix = f"auths.{name}"
        if not isinstance(section, Mapping):
            raise self._error(parent, name, "must be a mapping", "auths")
        values = check_options(
            SSH_AUTH_OPTIONS, section, lambda k, p: self._error(section, k, p, prefix))
        kind = values.pop("type")
        if kind == "none":
            if any(values[o.name] != o.default for o in SSH_AUTH_OPTIONS if o.name in values):
                raise self._error(section, "type", "an auth of type none takes no other keys",
                                  prefix)
            return None
        return SshAuth(**values)

    def _check_resource(self, name: str, section: Any, parent: Any, installed: set[str]) -> Any:
        prefix = f"resources.{name}"
        if not isinstance(section, Mapping):
            raise self._error(parent, name, "must be a mapping of settings", "resources")
        core_names = {option.name for option in CORE_OPTIONS}
        core = {k: v for k, v in section.items() if k in core_names}
        values = check_options(CORE_OPTIONS, core, lambda k, p: self._error(section, k, p, prefix))
        for arch in values["architecture"]:
            try:
                Arch(arch)
            except ValueError:
                known = ", ".join(a.value for a in Arch)
                raise self._error(section, "architecture",
                                  f"unknown architecture {arch!r} (known: {known})",
                                  prefix) from None
        for key, kind in (("max_memory_per_core", Memory), ("max_walltime", Duration)):
            try:
                kind.positive(section[key])
            except ValueError as exc:
                raise self._error(section, key, str(exc), prefix) from None
        if values["max_gpus_per_job"] < 0:
            raise self._error(section, "max_gpus_per_job",
                              f"expected 0 or more, got {values['max_gpus_per_job']}", prefix)
        if values["max_cores_per_job"] > values["max_cores"]:
            raise self._error(section, "max_cores_per_job",
                              f"{values['max_cores_per_job']} is more than max_cores "
                              f"({values['max_cores']})", prefix)
        if values["transport"] == "ssh" and not values["frontend"]:
            raise self._error(section, "transport", "ssh needs a 'frontend' host", prefix)
        if values["auth"] is not None and values["auth"] not in self._auths:
            known = ", ".join(self._auths) or "none defined"
            raise self._error(section, "auth",
                              f"no auth named {values['auth']!r} in the auths section "
                              f"(defined: {known})", prefix)
        if values["backend"] not in installed:
            raise self._error(section, "backend", not_found_message(values["backend"]), prefix)
        return section, values

    # -- use ---------------------------------------------------------------------

    @property
    def resource_names(self) -> list[str]:
        return list(self._resources)

    def backend_of(self, name: str) -> str:
        self._lookup(name)
        return str(self._resources[name][1]["backend"])

    def _lookup(self, name: str) -> None:
        if name not in self._resources:
            known = ", ".join(self._resources)
            raise ConfigError(f"no resource named {name!r} (configured: {known})",
                              path=self._where)

    def resource(self, name: str) -> LRMS:
        """The :class:`~lrms.LRMS` for resource ``name``, its backend loaded (made once)."""
        from .resource import LRMS

        self._lookup(name)
        if name not in self._built:
            section, values = self._resources[name]
            prefix = f"resources.{name}"
            backend_class = load_backend_class(values["backend"])
            core_names = {option.name for option in CORE_OPTIONS}
            extra = {k: v for k, v in section.items() if k not in core_names}
            options = check_options(
                getattr(backend_class, "options", ()), extra,
                lambda k, p: self._error(section, k, p, prefix), also_valid=sorted(core_names))
            auth = self._auths.get(values["auth"]) if values["auth"] else None
            arguments = {k: v for k, v in values.items() if k not in ("backend", "auth")}
            given = {k: options[k] for k in extra}
            try:
                self._built[name] = LRMS.from_options(
                    name, {**arguments, **given, "backend": values["backend"]}, auth)
            except ValueError as exc:
                raise ConfigError(str(exc), path=self._where) from None
        return self._built[name]

    def check_all(self) -> list[ConfigError]:
        """Build every resource; return the problems found (for ``lrms config check``)."""
        problems: list[ConfigError] = []
        for name in self._resources:
            try:
                self.resource(name)
            except ConfigError as exc:
                problems.append(exc)
            except (BackendError, BackendNotFound) as exc:
                problems.append(ConfigError(str(exc), path=self._where, key=f"resources.{name}"))
        return problems

    def close(self) -> None:
        """Close every resource built from this config."""
        for resource in self._built.values():
            resource.close()
        self._built.clear()


def _machine_memory() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def builtin_default() -> dict[str, Any]:
    """The configuration used when there is no file: this machine, through shellcmd."""
    cores = os.cpu_count() or 1
    per_core_mib = max(1, _machine_memory() // cores // 1024**2)
    return {"resources": {"localhost": {
        "backend": "shellcmd",
        "max_cores": cores,
        "max_cores_per_job": cores,
        "max_memory_per_core": f"{per_core_mib}MiB",
        "max_walltime": "7 days",
        "architecture": [Arch.local().value],
    }}}


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and check a configuration (see the module docstring for the search order)."""
    if path is None:
        path = os.environ.get("LRMS_CONFIG") or None
        if path is None:
            candidate = default_config_path()
            if not os.path.exists(candidate):
                return Config(builtin_default(), None)
            path = candidate
    filename = os.fspath(path)
    if not os.path.exists(filename):
        raise ConfigError("configuration file not found", path=filename)
    data = load(filename)
    if data is None:
        raise ConfigError("the file is empty; it needs a 'resources' section", path=filename)
    return Config(data, filename)
